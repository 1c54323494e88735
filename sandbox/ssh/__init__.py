"""The SSH fleet stand-in: ``fleet`` (asyncssh servers on loopback), ``commands`` (what the hosts
answer to the probe's script), ``hoststate`` (a host's settable state), ``serve`` (a fleet for
other processes: ``python -m sandbox.ssh.serve``)."""

"""The provisioner adapter: announcing servers on the Redis stream ``provisioner:queue``, which the
platform's infra service consumes (one field ``data`` holding the ``ProvisionerMessage`` JSON)."""

"""The one outside warning the processes silence, named exactly: category, module and message.

asyncssh (2.24) names cryptography's DSA classes in its type hints (``asyncssh.crypto.misc``) and
in its DSA key class (``asyncssh.crypto.dsa``). cryptography 51 deprecates DSA and warns
(``CryptographyDeprecationWarning``, a ``UserWarning``, so shown by default) on every such
access, five of them as asyncssh is imported: ten lines on stderr ahead of anything the process
says, a refused configuration included, and nothing we could act on. Every process entry (ticker,
worker, web, the ``scheduler`` command, the sandbox's) calls :func:`quiet_asyncssh_dsa` before anything
imports asyncssh; pytest has the same filter in ``pyproject.toml``. Anything else cryptography
deprecates, or asyncssh warns of, still shows.
"""

from __future__ import annotations

import warnings

# cryptography.utils is light (the standard library only) and every process imports cryptography
# anyway (the Redis client's TLS), so naming the category costs nothing.
from cryptography.utils import CryptographyDeprecationWarning

#: what the filter matches besides the category (regular expressions, as ``warnings`` takes them)
MESSAGE = r"DSA is deprecated"
MODULE = r"asyncssh\.crypto\.(dsa|misc)\Z"


def quiet_asyncssh_dsa() -> None:
    warnings.filterwarnings("ignore", message=MESSAGE, category=CryptographyDeprecationWarning, module=MODULE)

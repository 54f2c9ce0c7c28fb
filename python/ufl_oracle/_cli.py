"""The ``ufl-oracle`` console script: the same command line as the Rust binary, in process."""

import signal
import sys

from . import _native


def main():
    # Output piped into a reader that stops early ends the process quietly, as the binary does.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(_native.main(["ufl-oracle"] + sys.argv[1:]))


if __name__ == "__main__":
    main()

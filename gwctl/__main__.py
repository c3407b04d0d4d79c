"""``gwctl``'s entry point: run the app and turn every failure into an exit status.

0 done; 1 gwd refused (its message, one line, on stderr); 2 usage error (Click's
message, a bad profile file, or gwd refusing an option's value: a 400 that names
the field); 3 gwd unreachable (naming the URL). No traceback is ever printed: an
unexpected error is reported in one line, as a bug, with status 1.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from . import profile
    from .client import ApiError, Unreachable
    from .main import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, command
    from .output import note

    args = sys.argv[1:] if argv is None else argv
    try:
        defaults = profile.defaults(args, os.environ)
    except profile.ProfileError as exc:
        note(str(exc))
        sys.exit(EXIT_USAGE)
    if (warning := profile.warning(os.environ, defaults)) is not None:
        note(warning)
    try:
        command().main(args=args, prog_name="gwctl", default_map=defaults)
    except ApiError as exc:
        note(str(exc))
        sys.exit(EXIT_USAGE if exc.status == 400 and exc.param else EXIT_REFUSED)
    except Unreachable as exc:
        note(str(exc))
        sys.exit(EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the promise is: never a traceback
        note(f"internal error (a bug in gwctl, please report it): "
             f"{type(exc).__name__}: {exc}")
        sys.exit(EXIT_REFUSED)


if __name__ == "__main__":
    main()

"""Start the studio: the engine first (so recovery and the sweep begin with the server, not with the first
visit), then Streamlit in the same process. `python -m ui.serve [streamlit options]`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from imagegen import SettingsError

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from streamlit.web import cli

    from ui import runtime

    try:
        runtime.start()
    except SettingsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    sys.argv = ["streamlit", "run", str(APP), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

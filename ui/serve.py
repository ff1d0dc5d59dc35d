"""Start the studio: check the deployment, start the engine (so recovery and the sweep begin with the
server, not with the first visit), then Streamlit in the same process. `python -m ui.serve [options]`."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from pathlib import Path

from imagegen import Settings, SettingsError, check_setup, is_loopback

APP = Path(__file__).resolve().parent.parent / "app.py"
#: what the pages and the web server import, loaded before the heap is settled (see settle_heap)
PAGE_LIBRARIES = ("altair", "pandas", "streamlit.web.bootstrap", "streamlit.web.server")
log = logging.getLogger("imagegen.serve")


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from streamlit.web import cli

    from ui import runtime

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    argv = with_safe_address(settings, argv)
    for check in check_setup(settings):
        (log.info if check.ok else log.warning)("%s", check.line())
    runtime.start()
    settle_heap()
    sys.argv = ["streamlit", "run", str(APP), *argv]
    return cli.main()


def settle_heap() -> None:
    """Streamlit collects every generation of the heap after each script run (`runner.postScriptGC`), and a
    full collection walks every object the libraries made when imported: a tenth of a second per run on
    two cores, on each keystroke's rerun and between the two runs of a page change, with the interpreter
    held. The libraries the pages use are loaded now and what lives now is frozen out of the collector's
    walk (these objects live as long as the process anyway), so a collection walks only what runs make."""
    for name in PAGE_LIBRARIES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def with_safe_address(settings: Settings, argv: list[str]) -> list[str]:
    """Local mode makes every visitor the same admin: it listens on 127.0.0.1 unless told otherwise, and
    says so loudly when told otherwise."""
    address = _option(argv, "--server.address")
    if settings.auth != "local":
        return argv
    if address is None:
        return [*argv, "--server.address", "127.0.0.1"]
    if not is_loopback(address):
        log.warning(
            "IMAGEGEN_AUTH=local on %s: every visitor is the same admin. Use IMAGEGEN_AUTH=oidc or proxy "
            "(see the README) before sharing this server.",
            address or "every address",
        )
    return argv


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

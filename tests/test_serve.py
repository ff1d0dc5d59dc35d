"""The server settles what a crashed process left as soon as it starts, before anyone opens a page."""

import os
import signal
import subprocess
import sys
import time

from imagegen import GenerationRequest, Settings, Studio
from imagegen.checks import scoped_id
from tests.conftest import ROOT, cli_env, free_port


def test_a_restarted_server_settles_a_paid_image_without_any_visit(data_dir):
    settings = Settings(data_dir=data_dir, offline_delay=0)
    pid = os.fork()
    if pid == 0:  # a server that dies right after the provider answered
        try:
            studio = Studio(settings)
            import imagegen.pipeline as pipeline

            pipeline.imaging.verify_image = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
            studio.generate(GenerationRequest("a paid fox", request_id="left-behind"), "ann")
        finally:
            os._exit(3)
    os.waitpid(pid, 0)
    ledger_id = scoped_id("ann", "left-behind")
    assert Studio(settings).ledger.generation(ledger_id)["status"] == "reserved"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1"],
        cwd=ROOT, env=cli_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        status, listed = "reserved", []
        while time.time() < deadline and not (status == "committed" and listed) and server.poll() is None:
            time.sleep(0.2)
            studio = Studio(settings)
            status = studio.ledger.generation(ledger_id)["status"]
            listed = [i["request_id"] for i in studio.history().items]  # indexed once uploaded, after the charge
        assert status == "committed", "the server did not settle the spooled image on its own"
        assert listed == [ledger_id]
    finally:
        server.terminate()
        server.wait(timeout=20)

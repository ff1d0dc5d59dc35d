import json
import subprocess
import sys
import zipfile

from PIL import Image

from imagegen import GenerationRequest, Settings, Studio
from tests.conftest import ROOT, cli_env, run_cli


def test_generate_prints_one_json_object_with_the_contract_fields(data_dir):
    done = run_cli(
        "generate", "a red bicycle", "--user", "ann", "--preset", "cinematic", "--json", env=cli_env(data_dir)
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for field in (
        "id",
        "status",
        "user",
        "prompt",
        "directed_prompt",
        "revised_prompt",
        "model",
        "size",
        "quality",
        "format",
        "cost_usd",
        "image_key",
    ):
        assert field in result
    assert result["status"] == "succeeded" and result["user"] == "ann"
    assert result["directed_prompt"].startswith("a red bicycle, cinematic film still")
    assert (data_dir / "images" / result["image_key"]).is_file()


def test_raw_and_options_reach_the_request(data_dir):
    done = run_cli(
        "generate", "  a   fox ", "--raw", "--size", "1536x1024", "--format", "webp", "--json", env=cli_env(data_dir)
    )
    result = json.loads(done.stdout)
    assert result["directed_prompt"] == "a fox"
    assert result["size"] == "1536x1024" and result["format"] == "webp"


def test_invalid_input_exits_2_and_changes_nothing(data_dir):
    for args in (["   "], ["a fox", "--size", "1000x1000"], ["a fox", "--preset", "nope"], ["a fox", "--n", "9"]):
        done = run_cli("generate", *args, env=cli_env(data_dir))
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ")
    assert not (data_dir / "images").exists()
    assert not (data_dir / "spool").exists()


def test_a_bad_setting_exits_2_with_the_variable_named(data_dir):
    done = run_cli("generate", "a fox", env=cli_env(data_dir, IMAGEGEN_DAILY_QUOTA="many"))
    assert done.returncode == 2 and "IMAGEGEN_DAILY_QUOTA" in done.stderr


def test_a_content_refusal_exits_4(data_dir, fake_openai):
    fake_openai.default = "content_policy"
    env = cli_env(data_dir, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url)
    done = run_cli("generate", "something", "--json", env=env)
    assert done.returncode == 4
    assert json.loads(done.stdout.splitlines()[0])["error"] == "content_rejected"


def test_a_provider_failure_exits_1(data_dir, fake_openai):
    fake_openai.default = "500"
    env = cli_env(data_dir, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url)
    assert run_cli("generate", "something", env=env).returncode == 1


def test_models_and_presets_are_listed(data_dir):
    models = run_cli("models", env=cli_env(data_dir))
    assert "gpt-image-2.6-flare" in models.stdout and "shut_down" in models.stdout
    presets = run_cli("presets", env=cli_env(data_dir))
    assert len(presets.stdout.splitlines()) >= 12


def test_quota_budget_usage_and_reconcile(data_dir):
    env = cli_env(data_dir)
    assert run_cli("quota", "ann", "--set", "1", env=env).returncode == 0
    assert run_cli("generate", "a fox", "--user", "ann", env=env).returncode == 0
    refused = run_cli("generate", "a wolf", "--user", "ann", env=env)
    assert refused.returncode == 3 and "Daily image quota reached" in refused.stderr
    assert "quota 1" in run_cli("quota", "ann", env=env).stdout
    assert "team budget $3.00" in run_cli("budget", "--set", "3", env=env).stdout
    assert run_cli("budget", "--set", "lots", env=env).returncode == 2
    usage = run_cli("usage", "--csv", env=env)
    assert usage.stdout.splitlines()[0] == "day,user,images,requests,failed,spend_usd"
    assert ",ann,1,1,0," in usage.stdout
    check = run_cli("reconcile", "--check", env=env)
    assert check.returncode == 0 and "invariants hold" in check.stdout


def test_32_concurrent_generate_processes_admit_exactly_the_quota(data_dir):
    env = cli_env(data_dir)
    assert run_cli("quota", "ann", env=env).returncode == 0  # the database exists before the burst
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "imagegen", "generate", f"fox {i}", "--user", "ann"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(32)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes.count(0) == 5 and codes.count(3) == 27
    assert run_cli("reconcile", "--check", env=env).returncode == 0


def _png(path, size, color=(20, 120, 220)):
    from PIL import Image

    Image.new("RGB", size, color).save(path, "PNG")
    return str(path)


def test_edit_takes_files_or_a_gallery_key_and_records_the_lineage(data_dir, tmp_path):
    env = cli_env(data_dir)
    start = _png(tmp_path / "start.png", (600, 400))
    done = run_cli("edit", start, "--prompt", "add a red scarf", "--json", env=env)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["status"] == "succeeded" and first["size"] == "1536x1024"  # the starting image's shape
    assert first["directed_prompt"].startswith("add a red scarf. keep everything not mentioned")

    from PIL import Image

    mask = Image.new("RGBA", (1536, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 300, 300))
    mask.save(tmp_path / "mask.png")
    reference = _png(tmp_path / "ref.png", (64, 64), (250, 0, 0))
    done = run_cli(
        "edit", reference, "--from-key", first["image_key"], "--prompt", "make it night",
        "--mask", str(tmp_path / "mask.png"), "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)
    record = json.loads((data_dir / "images" / second["image_key"]).with_name("record.json").read_text())
    assert record["parent_key"] == first["image_key"]
    assert [i["role"] for i in record["inputs"]] == ["image", "reference", "mask"]
    assert all((data_dir / "images" / i["key"]).is_file() for i in record["inputs"])


def test_an_edit_with_bad_input_exits_2_and_changes_nothing(data_dir, tmp_path):
    env = cli_env(data_dir)
    start = _png(tmp_path / "start.png", (64, 64))
    (tmp_path / "not.png").write_bytes(b"GIF89a...")
    wrong_mask = _png(tmp_path / "mask.png", (32, 32))
    for args in (
        [str(tmp_path / "missing.png")],
        [str(tmp_path / "not.png")],
        [start, "--mask", wrong_mask],
        [],
        [start, "--from-key", "imagegen/users/nobody/0000000000000-x/original.png"],
    ):
        done = run_cli("edit", *args, "--prompt", "add a hat", env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ")
    assert not (data_dir / "images").exists()
    assert not (data_dir / "spool").exists()


def test_a_path_that_is_no_regular_file_or_too_large_is_refused_before_reading(data_dir, tmp_path):
    env = cli_env(data_dir)
    start = _png(tmp_path / "start.png", (64, 64))
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as sparse:  # 60 MB on paper, nothing on disk
        sparse.truncate(60 * 1024 * 1024)
    big_mask = tmp_path / "mask.png"
    with open(big_mask, "wb") as sparse:
        sparse.truncate(5 * 1024 * 1024)
    cases = {
        ("/dev/zero",): "'/dev/zero' is not a regular file",
        (str(tmp_path),): "Cannot read the image",
        (str(huge),): "is 60.0 MB: it must be under 50 MB",
        (start, "--mask", str(big_mask)): "The mask",
    }
    for args, message in cases.items():
        done = run_cli("edit", *args, "--prompt", "add a hat", env=env, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert not (data_dir / "images").exists()


def test_migrate_brings_a_blank_database_up_to_date_once(data_dir):
    env = cli_env(data_dir)
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied m001_ledger" in first.stdout and "applied m011_image_lineage" in first.stdout
    again = run_cli("migrate", env=env)
    assert again.returncode == 0 and "applied" not in again.stdout and "nothing to apply" in again.stdout


def test_a_logo_and_an_animation_from_the_command_line_with_their_options(data_dir):
    env = cli_env(data_dir)
    done = run_cli("generate", "a fox mark", "--preset", "mark", "--format", "svg", "--json", env=env)
    assert done.returncode == 0, done.stderr
    logo = json.loads(done.stdout)
    assert logo["format"] == "svg" and logo["image_key"].endswith("original.svg")
    assert (data_dir / "images" / logo["image_key"]).read_bytes().startswith(b"<svg")
    done = run_cli(
        "generate", "a spinner", "--format", "gif", "--frames", "4", "--frame-ms", "90", "--size", "256x256",
        "--json", env=env,
    )  # fmt: skip
    loop = json.loads(done.stdout)
    assert done.returncode == 0 and loop["format"] == "gif"
    record = json.loads((data_dir / "images" / loop["image_key"].replace("original.gif", "record.json")).read_text())
    assert (record["frame_count"], record["frame_duration_ms"], record["kind"]) == (4, 90, "animation")


def test_what_a_logo_or_an_animation_cannot_be_is_refused_before_anything_is_spent(data_dir):
    for argv, says in (
        (["--format", "svg", "--n", "2"], "one at a time"),
        (["--format", "gif", "--frames", "30"], "2 to 16 frames"),
        (["--format", "png", "--frames", "4"], "animation"),
    ):
        done = run_cli("generate", "a fox", *argv, env=cli_env(data_dir))
        assert done.returncode == 2 and says in done.stderr, done.stderr
    assert not (data_dir / "images").exists() or not any((data_dir / "images").rglob("original.*"))


def test_rewrite_writes_a_prompt_up_and_reads_it_back_the_second_time(data_dir):
    env = cli_env(data_dir)
    first = json.loads(run_cli("rewrite", "a red fox", "--preset", "cinematic", "--json", env=env).stdout)
    assert first["prompt"].startswith("a red fox, cinematic film still") and first["cached"] is False
    again = json.loads(run_cli("rewrite", "a  red fox", "--preset", "cinematic", "--json", env=env).stdout)
    assert again["cached"] is True and again["prompt"] == first["prompt"]
    done = run_cli("rewrite", "   ", env=env)
    assert done.returncode == 2 and "nothing to rewrite" in done.stderr


def test_generate_with_rewrite_sends_the_written_up_prompt_exactly(data_dir):
    env = cli_env(data_dir)
    done = run_cli("generate", "a red fox", "--preset", "cinematic", "--rewrite", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    written = json.loads(run_cli("rewrite", "a red fox", "--preset", "cinematic", "--json", env=env).stdout)
    assert written["cached"] and result["directed_prompt"] == written["prompt"]  # raw: nothing added twice
    record = json.loads((data_dir / "images" / result["image_key"]).with_name("record.json").read_text())
    assert record["rewrite"]["key"] == written["key"] and record["rewrite"]["user_text"] == "a red fox"


def test_describe_writes_the_prompt_of_an_image_file_and_refuses_what_is_not_one(data_dir, tmp_path):
    env = cli_env(data_dir)
    picture = tmp_path / "dusk.png"
    Image.new("RGB", (300, 600), (20, 30, 90)).save(picture)
    done = run_cli("describe", str(picture), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prompt"] == "A tall image in navy tones, dark, low-key light"
    plain = run_cli("describe", str(picture), env=env)
    assert plain.stdout.strip() == "A tall image in navy tones, dark, low-key light" and "no call" in plain.stderr
    (tmp_path / "notes.png").write_text("not an image")
    refused = run_cli("describe", str(tmp_path / "notes.png"), env=env)
    assert refused.returncode == 2 and "not a readable image" in refused.stderr


def test_board_create_add_list_and_export_as_a_zip_with_its_manifest(data_dir, tmp_path):
    env = cli_env(data_dir)
    studio = Studio(Settings(data_dir=data_dir, offline_delay=0))
    made = [studio.generate(GenerationRequest(p), "local").image_key for p in ("a red fox", "a blue bird")]
    created = json.loads(run_cli("board", "create", "Animals", "--team", "--json", env=env).stdout)
    board = created["board"]["id"]
    assert created["board"]["visibility"] == "team" and "add" in created["board"]["may"]
    link = f"http://studio.example/gallery?image={studio.link_for(made[1])}"
    added = json.loads(run_cli("board", "add", board, made[0], link, "--json", env=env).stdout)
    assert added["added"] == 2 and added["keys"] == made
    listed = json.loads(run_cli("board", "list", board, "--json", env=env).stdout)
    assert [i["prompt"] for i in listed["images"]] == ["a red fox", "a blue bird"]
    target = tmp_path / "animals.zip"
    done = run_cli("board", "export", board, "--to", str(target), "--json", env=env)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(zipfile.ZipFile(target).read("manifest.json"))
    assert [e["prompt"] for e in manifest["images"]] == ["a red fox", "a blue bird"]
    again = run_cli("board", "export", board, "--to", str(target), env=env)
    assert again.returncode == 2 and "exists already" in again.stderr  # never over a file that is there
    private = json.loads(run_cli("board", "create", "Mine", "--json", env=env).stdout)["board"]["id"]
    refused = run_cli("board", "add", private, made[0], "--user", "bob", env=env)
    assert refused.returncode == 2 and "not there, or it is private" in refused.stderr


def test_run_plans_without_spending_then_runs_a_file_of_prompts_onto_a_board(data_dir, tmp_path):
    env = cli_env(data_dir, IMAGEGEN_DAILY_QUOTA="5", IMAGEGEN_LOCAL_USER="ann")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red fox\n\na blue bird\n")
    planned = run_cli("run", str(prompts), "--preset", "photo", "--preset", "cinematic", "--plan", "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["requests"] == 4 and plan["fits"] == 4 and plan["images_left"] == 5
    assert [(i["prompt"], i["preset"]) for i in plan["items"]][:2] == [
        ("a red fox", "photo"),
        ("a red fox", "cinematic"),
    ]
    assert not (data_dir / "images").exists()  # a plan spends nothing

    done = run_cli(
        "run", str(prompts), "--preset", "photo", "--preset", "cinematic", "--name", "Birds", "--json", env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["counts"] == {"succeeded": 4} and result["images"] == 4
    studio = Studio(Settings(data_dir=data_dir))
    board = studio.board(result["board"], "ann")
    assert board.name == "Birds" and board.images == 4
    assert studio.allowance("ann").images_left == 1

    refused = run_cli("run", str(prompts), "--preset", "photo", "--preset", "cinematic", env=env)
    assert refused.returncode == 3 and "This run needs 4 images" in refused.stderr  # all or nothing, whole
    partial = run_cli("run", str(prompts), "--preset", "photo", "--mode", "as-far-as-it-goes", "--json", env=env)
    assert partial.returncode == 5, partial.stderr
    assert json.loads(partial.stdout)["counts"] == {"succeeded": 1, "failed": 1}
    assert studio.allowance("ann").images_left == 0 and studio.check_invariants() == []

    missing = run_cli("run", str(tmp_path / "nope.txt"), env=env)
    assert missing.returncode == 2 and "could not be read" in missing.stderr


def test_run_through_the_batch_api_returns_once_sent_and_offline_says_it_takes_no_batches(
    data_dir, tmp_path, fake_openai
):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red fox\na blue bird\n")
    offline = run_cli("run", str(prompts), "--mode", "batch", env=cli_env(data_dir, IMAGEGEN_LOCAL_USER="ann"))
    assert offline.returncode == 2 and "takes no batches" in offline.stderr
    env = cli_env(data_dir, IMAGEGEN_LOCAL_USER="ann", IMAGEGEN_PROVIDER="openai", OPENAI_API_KEY="sk-test",
                  OPENAI_BASE_URL=fake_openai.base_url)  # fmt: skip
    sent = run_cli("run", str(prompts), "--mode", "batch", "--json", env=env)
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    assert answer["status"] == "sent" and answer["requests"] == 2
    assert sum(r["_path"].endswith("/batches") for r in fake_openai.requests) == 1

"""`python -m imagegen doctor`: one line a check, exit 1 when any fails, and which setting to fix."""

from tests.conftest import cli_env, free_port, run_cli


def test_a_good_offline_deployment_passes_every_check(data_dir):
    done = run_cli("doctor", env=cli_env(data_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "provider"], ["ok", "storage"], ["ok", "database"], ["ok", "spool"], ["ok", "auth"]
    ]  # fmt: skip


def test_openai_and_s3_are_checked_for_real(data_dir, fake_openai, moto, bucket):
    env = cli_env(
        data_dir,
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_openai.base_url,
        IMAGEGEN_STORAGE="s3",
        IMAGEGEN_S3_BUCKET=bucket,
        AWS_ENDPOINT_URL=moto.endpoint,
    )
    done = run_cli("doctor", env=env)
    assert done.returncode == 0, done.stdout
    assert f"s3://{bucket}: wrote, read and deleted a probe" in done.stdout


def test_a_broken_deployment_fails_naming_what_to_fix_and_never_the_key(data_dir, fake_openai, moto):
    env = cli_env(
        data_dir,
        OPENAI_API_KEY="sk-wrong-key-123456",
        OPENAI_BASE_URL=fake_openai.base_url,
        IMAGEGEN_STORAGE="s3",
        IMAGEGEN_S3_BUCKET="no-such-bucket",
        AWS_ENDPOINT_URL=moto.endpoint,
        IMAGEGEN_AUTH="oidc",
    )
    done = run_cli("doctor", env=env)
    assert done.returncode == 1
    failed = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("FAIL")}
    assert set(failed) == {"provider", "storage", "auth"}
    assert "API key" in failed["provider"] and "IMAGEGEN_S3_BUCKET" in failed["storage"]
    assert "secrets.toml" in failed["auth"]
    assert "sk-wrong-key-123456" not in done.stdout + done.stderr


def test_an_unreachable_provider_fails(data_dir):
    env = cli_env(data_dir, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    done = run_cli("doctor", env=env)
    assert done.returncode == 1 and done.stdout.startswith("FAIL  provider")

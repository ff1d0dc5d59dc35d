"""The schema, one small numbered step at a time; each runs once per database, in order, and is recorded
in `_migrations`. Both databases run the same steps; the few pieces they build differently come from
imagegen/dialects.py. Types are the ones both understand: TEXT, BIGINT (money is in micro-dollars),
DOUBLE PRECISION (times in seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from imagegen.db import BUSY_TIMEOUT_MS, Database, Session

Migration = Callable[[Session], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def open_database(target: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    """The studio's database: migrated to this schema before its first use in this process."""
    return Database(target, busy_timeout_ms=busy_timeout_ms, prepare=migrate)


def migrate_database(target: str | Path) -> tuple[list[str], str]:
    """Bring the database at `target` up to this schema: (the migrations applied, where it lives)."""
    db = open_database(target)
    try:
        return migrate(db), db.describe()
    finally:
        db.close()


def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not had yet, in order; return their names."""
    applied: list[str] = []
    with db.migrating() as session:
        done = {row[0] for row in session.execute("SELECT name FROM _migrations")}
        for name, step in MIGRATIONS:
            if name not in done:
                step(session)
                session.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (:name, :at)", {"name": name, "at": time.time()}
                )
                applied.append(name)
    return applied


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _run(db: Session, statements: list[str]) -> None:
    for statement in statements:
        db.execute(statement)


@migration
def m001_ledger(db: Session) -> None:
    db.execute(
        """CREATE TABLE generations (
            id TEXT PRIMARY KEY,
            "user" TEXT NOT NULL,
            day TEXT NOT NULL,
            created_at TEXT NOT NULL,
            preset TEXT NOT NULL,
            model TEXT NOT NULL,
            size TEXT NOT NULL,
            quality TEXT NOT NULL,
            n BIGINT NOT NULL,
            output_format TEXT NOT NULL,
            prompt TEXT NOT NULL,
            directed_prompt TEXT NOT NULL,
            estimated_micros BIGINT NOT NULL,
            actual_micros BIGINT,
            input_text_tokens BIGINT,
            input_image_tokens BIGINT,
            output_tokens BIGINT,
            status TEXT NOT NULL,
            error_code TEXT,
            error_message TEXT,
            expires_at DOUBLE PRECISION NOT NULL,
            settled_at TEXT,
            quota_images BIGINT NOT NULL,
            budget_micros BIGINT NOT NULL,
            direct_ms BIGINT, reserve_ms BIGINT, render_ms BIGINT, verify_ms BIGINT,
            store_ms BIGINT, total_ms BIGINT,
            image_keys TEXT,
            revised_prompt TEXT,
            provider TEXT
        )"""
    )
    db.execute("CREATE INDEX generations_day ON generations (day, model)")
    db.execute('CREATE INDEX generations_user_day ON generations ("user", day)')
    db.execute("CREATE INDEX generations_open ON generations (status, expires_at)")
    db.execute("CREATE INDEX generations_created ON generations (created_at)")
    db.execute(
        """CREATE TABLE user_day (
            "user" TEXT NOT NULL, day TEXT NOT NULL,
            images_reserved BIGINT NOT NULL DEFAULT 0,
            images_committed BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY ("user", day)
        )"""
        + db.dialect.without_rowid
    )
    db.execute(
        """CREATE TABLE team_day (
            day TEXT PRIMARY KEY,
            reserved_micros BIGINT NOT NULL DEFAULT 0,
            committed_micros BIGINT NOT NULL DEFAULT 0
        )"""
        + db.dialect.without_rowid
    )
    db.execute(
        """CREATE TABLE limits (
            kind TEXT NOT NULL, subject TEXT NOT NULL, value BIGINT NOT NULL,
            set_by TEXT NOT NULL, set_at TEXT NOT NULL,
            PRIMARY KEY (kind, subject)
        )"""
    )
    db.execute(
        f"""CREATE TABLE limit_changes (
            id {db.dialect.identity_key}, kind TEXT NOT NULL, subject TEXT NOT NULL,
            old_value BIGINT, new_value BIGINT NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL
        )"""
    )


@migration
def m002_images_index(db: Session) -> None:
    db.execute(
        """CREATE TABLE images (
            key TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            "user" TEXT NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            preset TEXT NOT NULL,
            prompt TEXT NOT NULL,
            directed_prompt TEXT NOT NULL,
            revised_prompt TEXT,
            thumb_key TEXT NOT NULL,
            record_key TEXT NOT NULL,
            pending BIGINT NOT NULL DEFAULT 0,
            record TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX images_newest ON images (created_at DESC, key DESC)")
    db.execute('CREATE INDEX images_user ON images ("user", created_at DESC)')


@migration
def m003_jobs(db: Session) -> None:
    db.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            "user" TEXT NOT NULL,
            status TEXT NOT NULL,
            stage TEXT NOT NULL,
            stages TEXT NOT NULL DEFAULT '[]',
            request TEXT NOT NULL,
            result TEXT,
            error TEXT,
            error_code TEXT,
            charged BIGINT,
            partials BIGINT NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            heartbeat_at DOUBLE PRECISION,
            owner TEXT
        )"""
    )
    db.execute('CREATE INDEX jobs_user ON jobs ("user", created_at DESC)')
    db.execute("CREATE INDEX jobs_open ON jobs (status, heartbeat_at)")


@migration
def m004_analytics_indexes(db: Session) -> None:
    # Covering indexes for the admin's aggregates: each figure reads an index range, never the table.
    # The older narrow ones would tempt the planner into reading every row they point at.
    db.execute("DROP INDEX generations_day")
    db.execute("DROP INDEX generations_user_day")
    db.execute("CREATE INDEX generations_spend ON generations (day, status, model, actual_micros, n)")
    db.execute('CREATE INDEX generations_users ON generations (day, status, "user", actual_micros, n)')
    db.execute("CREATE INDEX generations_presets ON generations (day, status, preset)")
    db.execute("CREATE INDEX generations_render ON generations (day, status, model, render_ms)")


@migration
def m005_settlement(db: Session) -> None:
    # sent_at: when the provider call started, so an unsettled reservation is known to be possibly billed.
    # request_id: the id the user (or page) gave; the row's id is that id scoped to its user.
    db.execute("ALTER TABLE generations ADD COLUMN sent_at TEXT")
    db.execute("ALTER TABLE generations ADD COLUMN request_id TEXT")


@migration
def m006_accounts(db: Session) -> None:
    # An account per identity-provider subject; `user` is the name rows are keyed by (see accounts.py).
    db.execute(
        """CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            "user" TEXT NOT NULL UNIQUE,
            display TEXT NOT NULL,
            email TEXT,
            is_admin BIGINT NOT NULL DEFAULT 0,
            seen_at DOUBLE PRECISION NOT NULL
        )"""
    )


@migration
def m007_form_drafts(db: Session) -> None:
    # The Generate form each user last left, so settings survive a page switch, a reload or another device.
    db.execute(
        'CREATE TABLE form_drafts ("user" TEXT PRIMARY KEY, form TEXT NOT NULL, saved_at DOUBLE PRECISION NOT NULL)'
    )


@migration
def m008_search_and_favourites(db: Session) -> None:
    # Word search over the index: the user's prompt and, on request, the whole directed prompt, stemmed so
    # "cats" finds "cat" (see Dialect.search_index).
    # Each user's favourite images: a board to keep the good ones together.
    db.execute(
        'CREATE TABLE favourites ("user" TEXT NOT NULL, key TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, '
        'PRIMARY KEY ("user", key))'
    )
    db.execute("CREATE INDEX favourites_key ON favourites (key)")
    _run(db, db.dialect.search_index())


@migration
def m009_limit_removal(db: Session) -> None:
    # A user's own quota can be taken away: its change is recorded with no new value (the default again).
    rebuild = [
        f"""CREATE TABLE limit_changes_new (
            id {db.dialect.identity_key}, kind TEXT NOT NULL, subject TEXT NOT NULL,
            old_value BIGINT, new_value BIGINT, set_by TEXT NOT NULL, set_at TEXT NOT NULL
        )""",
        "INSERT INTO limit_changes_new SELECT * FROM limit_changes",
        "DROP TABLE limit_changes",
        "ALTER TABLE limit_changes_new RENAME TO limit_changes",
    ]
    _run(db, db.dialect.nullable("limit_changes", "new_value", rebuild))


#: The admin's figures read these daily totals, kept exact by triggers in the same transaction as every
#: change to the log, instead of scanning up to a million log rows per figure: (table, grouping columns,
#: counted columns with the value each generation adds). Open reservations are left out, so a reservation
#: (the hot path) costs no upkeep at all; the few open at any moment are read from the log.
ROLLUPS = (
    ("daily_model", ("day", "model", "status"), (("requests", "1"), ("images", "{r}.n"), ("micros", "{micros}"))),
    ("daily_user", ("day", '"user"', "status"), (("requests", "1"), ("images", "{r}.n"), ("micros", "{micros}"))),
    ("daily_preset", ("day", "preset", "status"), (("requests", "1"),)),
)
RENDER_BUCKET_MS = 100
DAILY_TABLES = (*(table for table, _, _ in ROLLUPS), "daily_render")


def _rollup_statements(row: str, sign: str) -> list[str]:
    """Add (sign "+") or take away (sign "-") one settled generation row ("new" or "old") in every total."""
    statements = []
    micros = f"COALESCE({row}.actual_micros, 0)"
    for table, keys, counts in ROLLUPS:
        names = [*keys, *(name for name, _ in counts)]
        values = [f"{row}.{key}" for key in keys] + [
            f"{sign}({value.format(r=row, micros=micros)})" for _, value in counts
        ]
        updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name, _ in counts)
        statements.append(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} WHERE {row}.status != 'reserved' "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates};"
        )
    statements.append(
        "INSERT INTO daily_render (day, model, bucket, renders, total_ms) "
        f"SELECT {row}.day, {row}.model, {row}.render_ms / {RENDER_BUCKET_MS}, {sign}1, {sign}{row}.render_ms "
        f"WHERE {row}.status = 'committed' AND {row}.render_ms IS NOT NULL "
        "ON CONFLICT (day, model, bucket) DO UPDATE SET renders = daily_render.renders + excluded.renders, "
        "total_ms = daily_render.total_ms + excluded.total_ms;"
    )
    return statements


@migration
def m010_analytics_rollups(db: Session) -> None:
    # Daily totals per model, user and preset (and a histogram of render times per model), so every Admin
    # figure reads a few thousand rows at most. Rows whose counts fall to zero stay; the figures skip them.
    db.execute(
        "CREATE TABLE daily_model (day TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, requests BIGINT "
        "NOT NULL, images BIGINT NOT NULL, micros BIGINT NOT NULL, PRIMARY KEY (day, model, status))"
        + db.dialect.without_rowid
    )
    db.execute(
        'CREATE TABLE daily_user (day TEXT NOT NULL, "user" TEXT NOT NULL, status TEXT NOT NULL, requests BIGINT '
        'NOT NULL, images BIGINT NOT NULL, micros BIGINT NOT NULL, PRIMARY KEY (day, "user", status))'
        + db.dialect.without_rowid
    )
    db.execute(
        "CREATE TABLE daily_preset (day TEXT NOT NULL, preset TEXT NOT NULL, status TEXT NOT NULL, "
        "requests BIGINT NOT NULL, PRIMARY KEY (day, preset, status))" + db.dialect.without_rowid
    )
    db.execute(
        "CREATE TABLE daily_render (day TEXT NOT NULL, model TEXT NOT NULL, bucket BIGINT NOT NULL, "
        "renders BIGINT NOT NULL, total_ms BIGINT NOT NULL, PRIMARY KEY (day, model, bucket))"
        + db.dialect.without_rowid
    )
    # Only the figures read these two; the rollups replace them and spare every write their upkeep.
    db.execute("DROP INDEX generations_presets")
    db.execute("DROP INDEX generations_render")
    watched = ["day", '"user"', "model", "preset", "status", "n", "actual_micros", "render_ms"]
    add, take = _rollup_statements("new", "+"), _rollup_statements("old", "-")
    _run(db, db.dialect.row_triggers("generations_rollup", "generations", add, take, watched))
    rebuild_rollups(db)


def rebuild_rollups(db: Session) -> None:
    """Compute every daily total afresh from the log (after a bulk load made without the triggers)."""
    for table in DAILY_TABLES:
        db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
    for table, keys, counts in ROLLUPS:
        sums = ", ".join(f"SUM({value.format(r='g', micros='COALESCE(g.actual_micros, 0)')})" for _, value in counts)
        db.execute(
            f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(n for n, _ in counts)}) "  # noqa: S608 (fixed names)
            f"SELECT {', '.join(keys)}, {sums} FROM generations g WHERE status != 'reserved' "
            f"GROUP BY {', '.join(keys)}"
        )
    db.execute(
        "INSERT INTO daily_render (day, model, bucket, renders, total_ms) "
        f"SELECT day, model, render_ms / {RENDER_BUCKET_MS}, COUNT(*), SUM(render_ms) FROM generations "
        f"WHERE status = 'committed' AND render_ms IS NOT NULL GROUP BY day, model, render_ms / {RENDER_BUCKET_MS}"
    )


@migration
def m011_image_lineage(db: Session) -> None:
    # An edit's image records the gallery image it started from: its children are found by this index, and
    # the Gallery filters edits from originals. Existing rows are originals (nothing was edited before).
    db.execute("ALTER TABLE images ADD COLUMN parent_key TEXT")
    db.execute("ALTER TABLE images ADD COLUMN edited BIGINT NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX images_parent ON images (parent_key) WHERE parent_key IS NOT NULL")
    db.execute("CREATE INDEX images_edited ON images (edited, created_at DESC, key DESC)")


@migration
def m012_shared_job_queue(db: Session) -> None:
    # Every process on the database takes queued jobs, oldest first; an edit whose inputs wait on one
    # server's disk names that disk, and only a process there takes it.
    db.execute("ALTER TABLE jobs ADD COLUMN pinned_to TEXT")
    db.execute("CREATE INDEX jobs_queue ON jobs (status, created_at)")


@migration
def m013_refusal(db: Session) -> None:
    # A reservation on PostgreSQL is one statement; it calls this to undo its own charges when the budget
    # refuses what the quota admitted.
    _run(db, db.dialect.refusal())


@migration
def m014_pending_deletes(db: Session) -> None:
    # Stored objects whose image row is gone: written in the transaction that deletes the row, removed once
    # storage confirms, so a crash or an unreachable store between the two leaves work that reconcile ends.
    db.execute("CREATE TABLE pending_deletes (key TEXT PRIMARY KEY, since DOUBLE PRECISION NOT NULL)")


@migration
def m015_estimated_charges(db: Session) -> None:
    # 1 where the charge used a conservative rate no source gives (or the provider reported no usage to
    # price): the Admin page shows such charges apart.
    db.execute("ALTER TABLE generations ADD COLUMN cost_estimated BIGINT NOT NULL DEFAULT 0")


@migration
def m016_images_by_id(db: Session) -> None:
    """A shared link names an image by its id: found at once, whatever the gallery holds."""
    db.execute("CREATE INDEX images_by_id ON images (id)")


@migration
def m017_image_assets(db: Session) -> None:
    # The kind of asset an image is (a picture, a vector logo or icon, an animation): the Gallery filters by
    # it through this index however few of one kind there are among many. Existing rows are pictures.
    db.execute("ALTER TABLE images ADD COLUMN asset TEXT NOT NULL DEFAULT 'picture'")
    db.execute("CREATE INDEX images_asset ON images (asset, created_at DESC, key DESC)")


@migration
def m018_team_settings(db: Session) -> None:
    # What an admin sets for the whole team besides its limits (the team's colours), and each change: who,
    # when, before and after.
    db.execute(
        "CREATE TABLE team_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, set_by TEXT NOT NULL, "
        "set_at TEXT NOT NULL)"
    )
    db.execute(
        f"""CREATE TABLE team_setting_changes (
            id {db.dialect.identity_key}, name TEXT NOT NULL, old_value TEXT, new_value TEXT NOT NULL,
            set_by TEXT NOT NULL, set_at TEXT NOT NULL
        )"""
    )


@migration
def m019_rewrites(db: Session) -> None:
    # The writing Director's answers, one per exact input (the words, the preset and its instructions'
    # version, the model and its parameters), shared by the team: the same rewrite asked again is read here.
    db.execute(
        """CREATE TABLE rewrites (
            key TEXT PRIMARY KEY, "user" TEXT NOT NULL, created_at TEXT NOT NULL, preset TEXT NOT NULL,
            instruction_version BIGINT NOT NULL, model TEXT NOT NULL, user_text TEXT NOT NULL,
            answer TEXT NOT NULL, cost_micros BIGINT NOT NULL
        )"""
    )


@migration
def m020_rewrite_sources(db: Session) -> None:
    # What a kept rewrite was written from: the user's words, or an image to describe ("image:" and the
    # digest of the pixels sent, so the same image is described once).
    db.execute("ALTER TABLE rewrites ADD COLUMN source TEXT NOT NULL DEFAULT 'words'")


@migration
def m021_boards(db: Session) -> None:
    # Boards: named sets of images with an owner, a visibility and members' roles; one team board may be
    # the brand kit. An image's place on a board holds where its review stands (so the gallery marks the
    # approved at once); every review decision is kept in its own log.
    db.execute(
        "CREATE TABLE boards (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, owner TEXT NOT NULL, "
        "visibility TEXT NOT NULL, brand_kit BIGINT NOT NULL DEFAULT 0, created_at TEXT NOT NULL)"
    )
    db.execute("CREATE UNIQUE INDEX boards_one_brand_kit ON boards (brand_kit) WHERE brand_kit = 1")
    db.execute(
        'CREATE TABLE board_members (board_id TEXT NOT NULL, "user" TEXT NOT NULL, role TEXT NOT NULL, '
        'PRIMARY KEY (board_id, "user"))'
    )
    db.execute('CREATE INDEX board_members_by_user ON board_members ("user")')
    db.execute(
        'CREATE TABLE board_reviewers (board_id TEXT NOT NULL, "user" TEXT NOT NULL, PRIMARY KEY (board_id, "user"))'
    )
    db.execute(
        """CREATE TABLE board_items (
            board_id TEXT NOT NULL, image_key TEXT NOT NULL, added_by TEXT NOT NULL, added_at TEXT NOT NULL,
            position BIGINT NOT NULL, review TEXT NOT NULL DEFAULT '', reviewed_by TEXT, reviewed_at TEXT,
            review_comment TEXT, PRIMARY KEY (board_id, image_key)
        )"""
    )
    db.execute("CREATE INDEX board_items_by_image ON board_items (image_key, review)")
    db.execute(
        f"""CREATE TABLE review_decisions (
            id {db.dialect.identity_key}, board_id TEXT NOT NULL, image_key TEXT NOT NULL, action TEXT NOT NULL,
            by_user TEXT NOT NULL, at TEXT NOT NULL, comment TEXT NOT NULL, answer_key TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX review_decisions_by_image ON review_decisions (image_key)")
    db.execute("CREATE INDEX review_decisions_by_answer ON review_decisions (answer_key) WHERE answer_key <> ''")
    db.execute("CREATE INDEX review_decisions_by_board ON review_decisions (board_id)")


@migration
def m022_runs(db: Session) -> None:
    # A run of many prompts: its items, each a job (and a ledger row) of its own, and the board its results
    # go on. An all-or-nothing run reserves every item at its start; `held_for` marks a reservation held for
    # its run until the item's job takes it (or the run is cancelled and it is released at $0).
    db.execute("ALTER TABLE generations ADD COLUMN held_for TEXT")
    db.execute("CREATE INDEX generations_held ON generations (held_for) WHERE held_for IS NOT NULL")
    db.execute(
        'CREATE TABLE runs (id TEXT PRIMARY KEY, "user" TEXT NOT NULL, created_at TEXT NOT NULL, name TEXT NOT NULL, '
        "mode TEXT NOT NULL, board_id TEXT NOT NULL, items BIGINT NOT NULL, estimated_micros BIGINT NOT NULL, "
        "cancelled BIGINT NOT NULL DEFAULT 0)"
    )
    db.execute('CREATE INDEX runs_by_user ON runs ("user", created_at)')
    db.execute(
        "CREATE TABLE run_items (run_id TEXT NOT NULL, position BIGINT NOT NULL, job_id TEXT NOT NULL, "
        "prompt TEXT NOT NULL, preset TEXT NOT NULL, size TEXT NOT NULL, estimated_micros BIGINT NOT NULL, "
        "collected BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (run_id, position))"
    )
    db.execute("CREATE INDEX run_items_by_job ON run_items (job_id)")


@migration
def m023_run_batches(db: Session) -> None:
    # A run sent through the provider's Batch API: no job per item; the batch's state, leased by one server
    # at a time while it sends or reads the batch, and each item's end kept on its row.
    db.execute("ALTER TABLE run_items ADD COLUMN request TEXT")
    db.execute("ALTER TABLE run_items ADD COLUMN outcome TEXT")
    db.execute("ALTER TABLE run_items ADD COLUMN result TEXT")
    db.execute("ALTER TABLE run_items ADD COLUMN error TEXT")
    db.execute(
        "CREATE TABLE run_batches (run_id TEXT PRIMARY KEY, batch_id TEXT, state TEXT NOT NULL, "
        "provider_status TEXT, lease_owner TEXT, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "checked_at DOUBLE PRECISION NOT NULL DEFAULT 0)"
    )


@migration
def m024_board_order(db: Session) -> None:
    # A board's page reads its first tiles in their order, not every item sorted.
    db.execute("CREATE INDEX board_items_in_order ON board_items (board_id, position, added_at)")

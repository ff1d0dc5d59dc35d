"""The engine record: every part of the studio, built in one place. Planning, the pipeline and the job
runner take it; the Studio (the face) holds it privately."""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.accounts import Accounts
from imagegen.catalog import Catalog
from imagegen.db import Database
from imagegen.director import PresetBook, load_presets
from imagegen.drafts import Drafts
from imagegen.history import Library
from imagegen.ledger import Ledger
from imagegen.limits import Limits
from imagegen.providers import Provider, make_provider
from imagegen.schema import open_database
from imagegen.settings import Settings
from imagegen.spool import Spool
from imagegen.storage import ObjectStore, make_object_store
from imagegen.team import TeamSettings


@dataclass(frozen=True)
class Engine:
    settings: Settings
    catalog: Catalog
    presets: PresetBook
    provider: Provider
    db: Database
    limits: Limits
    ledger: Ledger
    accounts: Accounts
    drafts: Drafts
    spool: Spool
    library: Library
    team: TeamSettings

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        presets: PresetBook | None = None,
        provider: Provider | None = None,
        db: Database | None = None,
        store: ObjectStore | None = None,
    ) -> Engine:
        """The engine for these settings; a part given here is used instead of the one they describe."""
        db = db or open_database(settings.database)
        spool = Spool(settings.spool_dir)
        ledger = Ledger(db, settings)
        return cls(
            settings=settings,
            catalog=catalog or Catalog.load(),
            presets=presets or load_presets(),
            provider=provider or make_provider(settings),
            db=db,
            limits=ledger.limits,
            ledger=ledger,
            accounts=Accounts(db, settings),
            drafts=Drafts(db),
            spool=spool,
            library=Library(store or make_object_store(settings), db, settings.s3_prefix, spool, settings.tz),
            team=TeamSettings(db),
        )

"""The ``fangpin`` command: serve, migrate, seed the demo county, import files."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from claims import clock, distributed, migrate
from claims.db import (
    MissingDatabase,
    close_connections,
    existing_database,
    get_engine,
    missing_database,
    url_of,
)
from claims.logs import configure_logging
from claims.settings import InvalidSettings, get_settings
from policies.errors import DomainError
from risk.errors import ModelError


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _chunk(text: str) -> int:
    value = int(text)
    if value < 100:
        raise argparse.ArgumentTypeError(f"{text}: a chunk holds at least 100 households")
    return value


def _count(text: str) -> int:
    """A whole number from 0 to 100,000 (days, rows to show)."""
    if not (text.isascii() and text.isdigit()) or int(text) > 100_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to 100000")
    return int(text)


def _households(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 5_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of households from 1 to "
                                         "5000000")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 3600:  # not a busy loop, nor a sleep past the clock's end
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.05 to "
                                         "3600")
    return value


def _year(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 2000 <= int(text) <= 2100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a year from 2000 to 2100")
    return int(text)


def _ids(text: str) -> list[int]:
    """Region ids separated by commas: 4,35."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of region ids like 4,35")
    return [int(part) for part in parts]


def _writable(text: str) -> str:
    """A file the command can write, checked before it changes anything."""
    from pathlib import Path

    path = Path(text)
    if path.is_dir() or not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: no such folder, or a folder itself; "
                                         "give a file in a folder that exists")
    return text


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-01") from None


def _missing(path: Path) -> bool:
    """Say so when a file named on the command line is not there."""
    if path.is_file():
        return False
    print(f"{path}: no such file", file=sys.stderr)
    return True


_schema_checked: set[str] = set()


def _engine() -> Engine:
    """The configured database's engine, for a command that opens the database: at its first
    use the database's schema revision must be this code's head (claims.migrate.require_head),
    so that neither an older fangpin writes to a database a newer one migrated nor a command
    runs on tables not yet upgraded. Commands that need no database never call it."""
    engine = get_engine()
    url = url_of(engine.engine)  # a test may hand in a connection
    if url not in _schema_checked:
        migrate.require_head(url)
        _schema_checked.add(url)
    return engine


def _schema_checked_first(command):
    """``command`` (of another module, which opens the database itself) once the database's
    schema is checked as :func:`_engine` checks it."""

    def checked(args) -> int:
        _engine()
        return command(args)

    return checked


def _serve(args) -> int:
    import uvicorn

    settings = get_settings()
    # the workers open it; an empty one had been served, its evaluator failing every 2 s
    migrate.require_head(existing_database(settings.database_url), empty_ok=False)
    uvicorn.run(
        "claims.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_config=None,
    )
    return 0


def _db(args) -> int:
    url = get_settings().database_url
    if args.action == "upgrade":  # the one command that creates a database
        created = missing_database(url)
        migrate.upgrade(url, args.revision or "head")
        if created is not None:
            print(f"created the database {created}")
    elif args.action == "downgrade":
        if not args.revision:
            print("fangpin db downgrade needs a revision, e.g. -1 or base", file=sys.stderr)
            return 2
        migrate.downgrade(existing_database(url), args.revision)
    else:
        existing_database(url)
    current = migrate.current_revision(url)
    print(f"schema revision: {current or 'empty'}"
          + ("" if current is None or migrate.known(current) else
             " (not known to this fangpin: a newer one migrated it)"))
    return 0


def _demo(args) -> int:
    from sqlmodel import select

    from claims import seed
    from policies import demo
    from policies.models import Household

    with Session(_engine()) as session:
        if args.if_empty and session.exec(select(Household.id).limit(1)).first() is not None:
            renewed = demo.renew(session)
            session.commit()
            print("database already holds households; demo county not seeded" + (
                f"; its contract renewed for {', '.join(map(str, renewed))}" if renewed else ""))
            return 0
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"\r  {done:,}/{total:,} households ({rate:,.0f}/s)", end="", file=sys.stderr)

        if args.history:
            from risk import simulator

            summary = simulator.simulate_county(session, households=args.households,
                                                seed=args.seed).county
        else:
            summary = demo.build_demo_county(
                session, households=args.households, seed=args.seed, progress=progress
            )
        logins = seed.seed_people(session)
        session.commit()
    print(file=sys.stderr)
    print(
        f"demo county {demo.COUNTY[1]} ({demo.COUNTY[0]}): {summary.households:,} households, "
        f"{summary.members:,} members, {summary.villages} villages, contract "
        f"{summary.contract_id}, in {time.perf_counter() - started:.1f}s"
    )
    if not args.logins_file:
        print("\n".join(logins))
    else:
        Path(args.logins_file).parent.mkdir(parents=True, exist_ok=True)
        Path(args.logins_file).write_text("\n".join(logins) + "\n", encoding="utf-8")
        Path(args.logins_file).chmod(0o600)
        print(f"demo logins written to {args.logins_file}")
    return 0


def _import(args) -> int:
    from claims import changes
    from claims.auth import SYSTEM

    path = Path(args.file)
    if _missing(path):
        return 2
    with Session(_engine()) as session:
        report = changes.import_households(session, SYSTEM, path.read_bytes(), path.name,
                                           partial=args.partial, as_of=args.as_of)
        session.commit()  # a refused file's audit entry only
    print(
        f"{path.name} ({report.encoding}): {report.rows:,} rows, "
        f"{report.households_in_file:,} households"
    )
    _row_errors(report, args)
    if report.written:
        print(
            f"written: households {report.households_created:,} new, "
            f"{report.households_updated:,} updated, {report.households_unchanged:,} unchanged"
            f"{f', {report.households_skipped:,} skipped' if report.households_skipped else ''}; "
            f"members {report.members_created:,} new, {report.members_updated:,} updated, "
            f"{report.members_unchanged:,} unchanged"
        )
    return 0 if not report.errors else 1


def _import_income_reports(args) -> int:

    from claims import changes
    from claims.auth import SYSTEM

    path = Path(args.file)
    if _missing(path):
        return 2
    with Session(_engine()) as session:
        report = changes.import_income_reports(session, SYSTEM, path.read_bytes(), path.name,
                                               clock.county_today(),
                                       partial=args.partial)
        if report.written:
            session.commit()
    print(f"{path.name} ({report.encoding}): {report.rows:,} rows")
    _row_errors(report, args)
    if report.written:
        print(f"written: {report.created:,} new reports, {report.unchanged:,} unchanged"
              f"{f', {report.skipped:,} rows skipped' if report.skipped else ''}")
    return 0 if not report.errors else 1


def _import_history(args) -> int:
    """Annual household records, yearly monitoring lines or past shocks: a county's own
    history."""
    from claims import audit
    from claims.auth import SYSTEM
    from policies import annual_import, history
    from risk import history_import

    path = Path(args.file)
    if _missing(path):
        return 2
    with Session(_engine()) as session:
        if args.kind == "annual-records":
            report = annual_import.import_annual_records(
                session, path.read_bytes(), path.name, history.clock(), partial=args.partial,
                lag_days=args.lag_days)
        elif args.kind == "shocks":
            report = history_import.import_shocks(
                session, path.read_bytes(), path.name, history.clock(), partial=args.partial,
                lag_days=args.lag_days)
        else:
            report = annual_import.import_lines(session, path.read_bytes(), path.name,
                                                partial=args.partial)
        if report.written:
            counts = {k: v for k, v in report.as_dict().items() if isinstance(v, int)}
            audit.record(session, SYSTEM, args.kind.replace("-", "_") + "_import",
                         path.name[:64], "import", after=counts)
            session.commit()
    print(f"{path.name} ({report.encoding}): {report.rows:,} rows")
    _row_errors(report, args)
    if report.written:
        what = {"annual-records": "annual records", "lines": "lines", "shocks": "shocks"}[
            args.kind]
        print(f"written: {report.created:,} new {what}, {report.unchanged:,} unchanged"
              f"{f', {report.skipped:,} rows skipped' if report.skipped else ''}")
    return 0 if not report.errors else 1


def _row_errors(report, args) -> None:
    """An import's ignored columns and bad values, printed and (with --report) written; says
    so when nothing was written."""
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}")
    for error in report.errors[: args.show]:
        print(f"  row {error.row}: {error.field} = {error.value!r}: {error.reason}")
    if len(report.errors) > args.show:
        print(f"  … {len(report.errors) - args.show:,} more (write them all with --report)")
    if args.report and report.errors:
        from policies.tables import csv_bytes

        with open(args.report, "wb") as out:
            out.write(csv_bytes(["row", "field", "value", "reason"], [
                [e.row, e.field, e.value, e.reason] for e in report.errors]))
        print(f"error report written to {args.report}")
    if not report.written:
        print(f"nothing written: {len(report.errors):,} bad value(s); fix them or use --partial")


def _terms(args) -> int:
    from policies import benefits
    from policies.terms import InvalidTerms, load_terms

    if args.action == "validate":
        failed = 0
        for file in args.files:
            try:
                terms = load_terms(file)
            except InvalidTerms as exc:
                failed += 1
                for problem in exc.problems:
                    print(problem, file=sys.stderr)
                continue
            except FileNotFoundError:
                failed += 1
                print(f"{file}: no such file", file=sys.stderr)
                continue
            triggers = ", ".join(terms.triggers)
            print(f"{file}: ok — {terms.policy.title} ({terms.policy.policy_year}): {triggers}")
        return 1 if failed else 0

    if args.action == "load":
        from pydantic import ValidationError

        from claims import changes
        from claims.auth import SYSTEM
        from policies.models import TermsUpload

        if len(args.files) != 1:
            print("fangpin terms load takes one file", file=sys.stderr)
            return 2
        path = Path(args.files[0])
        if _missing(path):
            return 2
        try:  # the API's own rules of a terms upload
            upload = TermsUpload.model_validate({"key": args.key or path.stem,
                                                 "source_text": path.read_text("utf-8")})
        except UnicodeDecodeError:  # as `terms validate` says it (policies.terms.load_terms)
            print(f"error: {path}: save the file as UTF-8", file=sys.stderr)
            return 2
        except ValidationError as exc:
            first = exc.errors()[0]
            what = (f"the terms' key {first['input']!r} (--key, or the file's name)"
                    if first["loc"] == ("key",) else str(path))
            print(f"error: {what}: {first['msg']}", file=sys.stderr)
            return 2
        key = upload.key
        with Session(_engine()) as session:
            version, created = changes.store_terms(session, SYSTEM, key, upload.source_text,
                                                   str(path))
            if args.contract:
                changes.attach_terms(session, SYSTEM, args.contract, version.id)
            session.commit()
            print(f"terms {key} version {version.version} (id {version.id})"
                  f"{'' if created else ' was already stored'}"
                  f"{f'; in force for contract {args.contract}' if args.contract else ''}")
        return 0

    # quote: TERMS_FILE EVENTS_FILE, no database
    from policies.errors import InvalidInput
    from policies.event_files import read_quote_file

    if len(args.files) != 2:
        print("fangpin terms quote TERMS_FILE EVENTS_FILE", file=sys.stderr)
        return 2
    if any(_missing(Path(file)) for file in args.files):
        return 2
    try:
        terms = load_terms(args.files[0])
        quoted = read_quote_file(Path(args.files[1]).read_bytes(), args.files[1])
        result = benefits.quote(terms, quoted.household.to_snapshot(), quoted.events,
                                quoted.prior_payouts)
    except (InvalidTerms, InvalidInput) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(benefits.quote_out(terms, result).model_dump_json(indent=2))
    return 0


def _claims(args) -> int:
    from claims import recalculation
    from claims.auth import SYSTEM

    with Session(_engine()) as session:
        listed = recalculation.recalculate(session, SYSTEM, dry_run=args.dry_run)
        if not args.dry_run:
            session.commit()
    for change in listed:
        print(f"{change.claim_number} ({change.state}): {change.old:,.2f} → {change.new:,.2f}: "
              f"{change.why}" + (f" [{change.note}]" if change.note else ""))
    changed = sum(1 for c in listed if c.state in recalculation.OPEN)
    print(f"{len(listed)} claims differ; {changed} open claims "
          + ("would be recalculated (dry run: nothing changed)" if args.dry_run
             else "recalculated on the audit trail")
          + "; paid claims are reported, never changed")
    return 0


def _fund(args) -> int:
    from datetime import date

    from claims import changes
    from claims.auth import SYSTEM
    from policies import benefits

    with Session(_engine()) as session:
        if args.action == "settle":
            settlement = changes.settle_contract(session, SYSTEM, args.contract,
                                                 clock.county_today(), args.next_contract)
            session.commit()
            print(f"settled: balance {settlement.balance}, carried over "
                  f"{settlement.carried_over}, county top-up {settlement.county_top_up}")
            return 0
        try:
            as_of = date.fromisoformat(args.as_of) if args.as_of else clock.county_today()
        except ValueError:
            print(f"--as-of {args.as_of}: write the date as YYYY-MM-DD", file=sys.stderr)
            return 2
        position = benefits.fund_position(session, args.contract, as_of)
    width = max(len(k) for k in position.__dict__)
    for key, value in position.__dict__.items():
        print(f"{key.replace('_', ' '):<{width}}  {value}")
    return 0


def _audit(args) -> int:
    from claims import anchors

    settings = get_settings()
    with Session(_engine()) as session:
        if args.action == "anchor":
            head = anchors.anchor(session, settings)
            where = settings.audit_anchor_file or "the log"
            print(f"audit head signed: {head.count:,} entries, last {head.last_hash[:12]}…, "
                  f"written to {where}")
            return 0
        result = anchors.verify(session, settings, args.anchors)
    if not result.problem:
        against = (f", up to the head signed over {result.signed_count:,}"
                   if result.signed_count is not None else
                   "; no signed head found, so removed newest entries cannot be detected "
                   "(run `fangpin audit anchor`)")
        print(f"audit trail intact: {result.checked:,} entries{against}")
        return 0
    print(f"audit trail broken: {result.problem} (entries before it: {result.checked:,})")
    return 1


def _people(args) -> int:
    from pydantic import ValidationError

    from claims.auth import SYSTEM
    from claims.people import UserCreate, create_user, update_user

    if args.kind == "user":
        try:  # the API's own rules of a user
            body = UserCreate.model_validate({
                "username": args.name, "full_name": args.full_name or args.name,
                "role": args.role, "approval_limit": args.approval_limit or None})
        except ValidationError as exc:
            first = exc.errors()[0]
            print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}",
                  file=sys.stderr)
            return 2
    with Session(_engine()) as session:
        if args.kind == "user":
            user, token = create_user(session, SYSTEM, username=body.username,
                                      full_name=body.full_name, role=body.role,
                                      approval_limit=body.approval_limit,
                                      id_number=args.id_number)
            if args.townships:  # as the API: each must be a township of the registry
                update_user(session, SYSTEM, user, townships=args.townships)
            session.commit()
            area = (f", townships {', '.join(map(str, args.townships))}" if args.townships
                    else "")
            print(f"user {user.username} ({user.role}{area}); API token, shown once: {token}")
        else:
            return _department(session, args)
    return 0


def _new_token(args) -> int:
    from sqlmodel import select

    from claims.auth import SYSTEM
    from claims.models import AppUser
    from claims.people import new_user_token

    with Session(_engine()) as session:
        user = session.exec(select(AppUser).where(AppUser.username == args.name)).first()
        if user is None:
            print(f"error: username: no user {args.name}", file=sys.stderr)
            return 2
        token = new_user_token(session, SYSTEM, user)
        session.commit()
    print(f"user {args.name}: new API token, shown once (the old one no longer works): {token}")
    return 0


def _department(session, args) -> int:
    """Add a department key (with --organisation), or set the remit of the existing one."""
    from sqlmodel import select

    from claims import intake, remit
    from claims.auth import SYSTEM
    from claims.models import ApiClient
    from claims.people import create_client

    types = None if args.event_types in (None, "default") else [
        t.strip() for t in args.event_types.split(",") if t.strip()]
    if types == []:  # an empty variable in a script would cut the department off
        print("error: --event-types names no event type; give a list, or 'default'",
              file=sys.stderr)
        return 2
    if args.organisation:
        client, key = create_client(session, SYSTEM, args.name, args.organisation)
        if args.event_types is not None:  # refused before the key is shown
            remit.set_remit(session, SYSTEM, client.id, types, intake.event_types(session))
        session.commit()
        print(f"department {client.name} ({client.organisation}); API key, shown once: {key}")
    else:
        clients = session.exec(select(ApiClient).where(ApiClient.name == args.name)).all()
        if len(clients) != 1 or args.event_types is None:
            print(f"{args.name}: {len(clients)} departments of that name; give --organisation "
                  "to add one, or --event-types to set the remit of the one", file=sys.stderr)
            return 2
        client = clients[0]
    if args.event_types is not None and not args.organisation:
        remit.set_remit(session, SYSTEM, client.id, types, intake.event_types(session))
    session.commit()
    shown = remit.view(client)
    print(f"{client.name} may send: {', '.join(shown['event_types'] or ['every event type'])}"
          f" ({'its own list' if shown['remit'] == 'own' else 'its department default'})")
    return 0


def _import_events(args) -> int:
    from sqlmodel import select

    from claims import evaluator, intake
    from claims.auth import actor_for_client
    from claims.models import ApiClient, TriggerEvent
    from policies.event_files import read_events

    path = Path(args.file)
    if _missing(path):
        return 2
    with Session(_engine()) as session:
        clients = session.exec(select(ApiClient).where(
            ApiClient.active, (ApiClient.organisation == args.source)
            | (ApiClient.name == args.source))).all()
        if len(clients) != 1:
            print(f"--source {args.source}: {len(clients)} departments match; give the "
                  "department's name or a unique organisation code", file=sys.stderr)
            return 2
        actor = actor_for_client(clients[0])
        raw, row_errors = read_events(path.read_bytes(), path.name)
        outcomes = intake.receive(session, actor, raw, commit_chunk=session.commit)
        session.commit()
    evaluator.evaluate_all(_engine())
    with Session(_engine()) as session:
        accepted = [o.event_id for o in outcomes if o.result == "accepted"]
        statuses: dict[str, int] = {}
        for start in range(0, len(accepted), 1000):
            for status in session.exec(select(TriggerEvent.status).where(
                    TriggerEvent.id.in_(accepted[start:start + 1000]))):
                statuses[status] = statuses.get(status, 0) + 1
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
        if outcome.result in ("rejected", "conflict"):
            print(f"  {outcome.source_event_id}: {outcome.field}: {outcome.reason}")
    for error in row_errors:  # refused before intake: rejected, as the API counts them
        print(f"  {error['source_event_id']}: {error['reason']}")
        counts["rejected"] = counts.get("rejected", 0) + 1
    print(f"{path.name}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if statuses:
        print("evaluated: " + ", ".join(f"{n} {k}" for k, n in sorted(statuses.items())))
    return 0 if not row_errors and not counts.get("rejected") and not counts.get("conflict") \
        else 1


def _simulate(args) -> int:
    from risk import simulator

    if args.households < 1:
        print("--households: must be at least 1", file=sys.stderr)
        return 2
    with Session(_engine()) as session:
        started = time.perf_counter()
        summary = simulator.simulate_county(session, households=args.households,
                                            seed=args.seed)
        session.commit()
    shares = ", ".join(f"{year} {share:.1%}" for year, share in
                       summary.below_line_share.items())
    print(f"simulated {summary.households:,} households ({summary.members:,} people), "
          f"ledger {summary.years[0]}-{summary.years[-1]} in "
          f"{time.perf_counter() - started:.1f} s; under the line: {shares}")
    print()
    print(simulator.simulator_card(summary.card), end="")
    return 0


def _train(args) -> int:
    from datetime import date

    from risk import training

    settings = get_settings()
    directory = Path(args.model_dir or settings.model_dir)
    test_day = args.test_day or date(args.test_year, 1, 1)
    if test_day > clock.county_today(settings.timezone):
        print(f"error: the test day {test_day} is after today: a model is tested on a day "
              "that has come, against what befell the households after it", file=sys.stderr)
        return 2
    with Session(_engine()) as session:
        started = time.perf_counter()
        trained, version, in_force, why = training.train_and_keep(
            session, directory, test_day=test_day, train_days=args.train_days, seed=args.seed,
            description=args.description, threshold=settings.risk_threshold)
        _model_on_trail(session, version, "train", in_force=in_force,
                        test_day=test_day.isoformat(), **({} if in_force else {"why": why}))
    for warning in trained.metadata["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    evaluation = trained.metadata["evaluation"]
    print(f"out of time, the at-risk households on {test_day} ({evaluation['rows']:,}, "
          f"{evaluation['positives']:,} fell within 12 months), 95% intervals:")
    ceiling = trained.metadata["ceiling"]
    for name in ("model", "scorecard", "rule"):
        r = evaluation[name]
        print(f"{name:>9}: AUC {r['auc']:.3f} ({r['auc_ci'][0]:.3f}–{r['auc_ci'][1]:.3f}), "
              f"top 10% catch {r['top_10pct_caught']:.1%}"
              + (_beside_ceiling(ceiling) if name == "model" else ""))
    if ceiling["auc"] is None:
        print(f"  ceiling: unknown — {ceiling['unknown']}")
    for name in ("rule", "scorecard"):
        d = evaluation[f"model_minus_{name}"]
        print(f"model − {name}: {d['auc']:+.3f} ({d['auc_ci'][0]:+.3f}…{d['auc_ci'][1]:+.3f})")
    print(f"ECE {trained.metadata['ece']:.4f}; would-be warnings going to at-risk households: "
          f"{trained.metadata['warning_shares']['at_risk']:.1%}")
    kept = directory / "versions" / version
    if in_force:
        print(f"version {version} is in force (model card: {directory / 'MODEL_CARD.md'}), "
              f"in {time.perf_counter() - started:.1f} s")
        return 0
    print(f"version {version} is kept in {kept} but NOT in force: {why}. The version in force "
          "is unchanged; 'fangpin model promote' puts it in force anyway.", file=sys.stderr)
    return 3


def _beside_ceiling(ceiling: dict) -> str:
    """The simulator's ceiling beside the model's figures, when known."""
    if ceiling["auc"] is None:
        return ""
    caught = ceiling.get("top_10pct_caught")
    return (f"; ceiling (an oracle knowing the simulator's hidden state) AUC "
            f"{ceiling['auc']:.3f}" + (f", top 10% catch {caught:.1%}" if caught is not None
                                       else ""))


def _model(args) -> int:
    from risk import model

    directory = Path(args.model_dir or get_settings().model_dir)
    if args.action == "list":
        found = model.list_versions(directory)
        if not found:
            print(f"no versions in {directory}; train one with 'fangpin train'")
        for v in found:
            ceiling = ("" if v["ceiling_auc"] is None
                       else f" (ceiling {v['ceiling_auc']:.3f})")
            print(f"{'*' if v['in_force'] else ' '} {v['version']}  trained {v['trained_at']}  "
                  f"test day {v['test_day']}  AUC model {v['model_auc']:.3f}{ceiling} / "
                  f"scorecard {v['scorecard_auc']:.3f} / rule {v['rule_auc']:.3f}"
                  + ("  (in force)" if v["in_force"] else "")
                  + ("  (a rollback puts it back)" if v["rollback_to"] else ""))
        return 0
    if args.action == "promote" and not args.version:
        raise SystemExit("promote needs the VERSION ('fangpin model list' shows them)")
    engine = _engine()  # the trail must be writable before the model in force changes
    current = model.in_force(directory)
    if args.action == "promote":
        model.promote(directory, args.version)
        version = args.version
        print(f"version {version} is in force")
    else:
        version = model.rollback(directory)
        print(f"version {version} is back in force ({current} rolled back)")
    with Session(engine) as session:
        _model_on_trail(session, version, args.action, replaced=current)
    return 0


def _model_on_trail(session: Session, version: str, action: str, **after) -> None:
    """Which risk model scores the county is the office's decision: each training, promotion
    and rollback on the audit trail (they had been in the model folder's history only)."""
    from claims import audit
    from claims.auth import SYSTEM

    audit.record(session, SYSTEM, "risk_model", version, action, after=after)
    session.commit()


def _evaluate(args) -> int:
    from claims import evaluator
    from policies.errors import InvalidInput

    gc.freeze()  # as the service does at its start (claims.app.lifespan)
    url = url_of(_engine())
    migrate.require_head(url, empty_ok=False)  # not a traceback before the error
    lanes = args.lanes
    if lanes != 1 and args.lane:
        raise InvalidInput("--lane K/N evaluates one lane of N and --lanes N all N at once: "
                           "give one of them", field="lanes", value=lanes)
    if lanes != 1 and args.follow:
        raise InvalidInput("--lanes starts the lanes once; to follow, start one 'fangpin "
                           "evaluate --follow --lane K/N' per lane", field="lanes", value=lanes)
    lane = _lane(args.lane) if args.lane else None
    if (lanes > 1 or (lane and lane.of > 1)) and url.startswith("sqlite"):
        raise InvalidInput("lanes side by side need PostgreSQL: SQLite writes one transaction "
                           "at a time, so a second lane only waits", field="lanes")
    if not args.follow:
        if lane is not None:
            print(f"evaluated {evaluator.evaluate_all(_engine(), lane=lane)} events "
                  f"(lane {lane.index + 1} of {lane.of})")
        else:
            print(f"evaluated {evaluator.evaluate_lanes(url, lanes)} events")
        return 0
    worker = evaluator.Evaluator(get_engine, poll_seconds=args.poll, lane=lane)
    worker.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()
    return 0


def _lane(text: str):
    """``K/N``: the K-th of N lanes (counted from 1)."""
    from claims import intake
    from policies.errors import InvalidInput

    index, _, of = text.partition("/")
    if not all(part.isascii() and part.isdecimal() for part in (index, of)):
        raise InvalidInput(f"--lane is K/N, the K-th of N lanes, e.g. 1/2 (got {text!r})",
                           field="lane", value=text)
    if not 1 <= int(index) <= int(of):
        raise InvalidInput(f"--lane {text}: K counts from 1 to N", field="lane", value=text)
    return intake.Lane(int(index) - 1, int(of))


def _ranges_on(args, make):
    """The engine the command asked for (see claims.distributed.computing)."""
    if args.engine != "dask" and args.scheduler_address:
        raise SystemExit("--scheduler-address goes with --engine dask")
    return distributed.computing(args.engine, args.scheduler_address, args.workers, make)


def _engine_options(parser) -> None:
    parser.add_argument("--engine", choices=("process", "dask"), default="process",
                        help="this process (default), or a Dask cluster (pip install "
                             "'fangpin[dask]')")
    parser.add_argument("--scheduler-address",
                        help="the Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
                             "cluster)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of a local cluster (default 2)")


def _score(args) -> int:
    from tqdm import tqdm

    from claims import nightly

    settings = get_settings()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit=" households", unit_scale=True, file=sys.stderr,
                       disable=args.quiet)
        bar.update(done - bar.n)

    engine, model_dir = _engine(), Path(args.model_dir or settings.model_dir)
    try:
        with _ranges_on(args, lambda client: distributed.range_scorer(
                client, engine, model_dir)) as score_ranges:
            result = nightly.score_households(
                engine, model_dir=model_dir,
                threshold=args.threshold or settings.risk_threshold,
                rise=args.rise or settings.risk_rise, timezone=settings.timezone,
                night=args.night, chunk=args.chunk or settings.score_chunk,
                keep_runs=settings.keep_score_runs, progress=progress,
                score_ranges=score_ranges)
    finally:
        if bar is not None:
            bar.close()
    if result.status == "already":
        print(f"tonight's run {result.run_id} with this model is complete; nothing changed")
        return 0
    drift = result.drift
    print(f"run {result.run_id}: {result.households:,} households scored, "
          f"{result.warnings:,} new warnings, in {result.seconds:.1f} s")
    if result.note:
        print(f"note: {result.note}")
    if drift.get("flag"):
        print("drift: " + "; ".join(filter(None, [
            *(_drift_reason(r) for r in drift.get("reasons", [])),
            f"shifted {', '.join(drift['shifted'])}" if drift["shifted"] else "",
            f"no value at all in {', '.join(drift['missing'])}" if drift["missing"] else ""]))
            + " — compare with the model card before relying on the scores")
    return 0


def _drift_reason(reason: dict) -> str:
    """A reason of the drift report in words (the run printed the shifted features only, and
    a line's rise went unsaid)."""
    code = reason["code"]
    if code in ("line_rise", "line_fall"):
        return (f"the line {reason['line']:,.2f} is {reason['beyond_expected']:+.1%} from the "
                f"{reason['expected']:,.2f} expected ({code.replace('_', ' ')})")
    if code == "income_shift":
        return f"incomes shifted (PSI {reason['psi']:.2f})"
    if code == "score_mean_shift":
        return "the mean score moved away from the model's: its calibration no longer holds"
    return code.replace("_", " ")


def _password(args) -> int:
    import getpass

    from sqlmodel import select

    from claims.auth import SYSTEM
    from claims.models import AppUser
    from claims.web.session import set_password

    engine = _engine()  # a database refused before the password is typed
    # a Windows line ending too: a password piped with \r\n had been stored with its \r
    if not args.stdin and not sys.stdin.isatty():
        raise EOFError  # no terminal to ask on: said in words by main
    password = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass(
        f"new password for {args.name}: ")
    with Session(engine) as session:
        user = session.exec(select(AppUser).where(AppUser.username == args.name)).first()
        if user is None:
            print(f"error: no user {args.name}", file=sys.stderr)
            return 1
        set_password(session, SYSTEM, user, password)
        session.commit()
    print(f"password of {args.name} set")
    return 0


def _monitor(args) -> int:

    from claims import monitoring

    engine = _engine()
    with _ranges_on(args, lambda client: distributed.window_evaluator(client, engine)) as ranges:
        run = monitoring.run_monitoring(engine, clock.county_today(), "command",
                                        evaluate_ranges=ranges)
    if run is None:
        print("monitoring: another process is evaluating the windows now; try again later",
              file=sys.stderr)
        return 1
    counts = run.counts
    print(f"monitoring run {run.id}: {counts['windows']} windows evaluated, "
          f"{counts['closed']} closed, {counts['alerts']} new alerts, {counts['follow_ups']} "
          f"follow-ups opened, {counts['proposals']} proposed for risk elimination")
    return 0


def _scheduler(_args) -> int:
    from claims import scheduler

    settings = get_settings()
    migrate.require_head(url_of(_engine()), empty_ok=False)  # the jobs open it
    nights = scheduler.build(blocking=True)
    print(f"scheduler: risk scoring every night at {settings.score_time} "
          f"({settings.timezone}); Ctrl-C stops it", file=sys.stderr)
    try:
        nights.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fangpin", description="Poverty-prevention insurance (防贫保) claims engine"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    db = sub.add_parser("db", help="schema migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision (default head for upgrade)")
    db.set_defaults(func=_db)

    demo = sub.add_parser("demo", help="seed the demo county")
    demo.add_argument("--households", type=_households, default=15_000)
    demo.add_argument("--seed", type=int, default=20171106)
    demo.add_argument("--if-empty", action="store_true",
                      help="do nothing when the registry already has households")
    demo.add_argument("--logins-file", help="also write the demo users' tokens to this file")
    demo.add_argument("--history", action="store_true",
                      help="with the simulated income panel of 2019-2025 (as 'fangpin "
                           "simulate'), so the risk model can be trained on it")
    demo.set_defaults(func=_demo)

    imp = sub.add_parser("import", help="import a file")
    imp_sub = imp.add_subparsers(dest="kind", required=True)
    for kind, about, partial, func in (
            ("households", "households with members (CSV/XLSX)",
             "write valid households, skip those with bad rows", _import),
            ("income-reports", "income reports of post-payout monitoring (CSV/XLSX)",
             "write the valid rows, skip the bad ones", _import_income_reports),
            ("annual-records", "several years of annual household records: the year, the "
             "household size of that year, the income components (CSV/XLSX)",
             "write the valid rows, skip the bad ones", _import_history),
            ("lines", "the monitoring line of each region and year (CSV/XLSX)",
             "write the valid rows, skip the bad ones", _import_history),
            ("shocks", "past shocks of households: kind, day, day known, burden or the "
             "trigger amounts (CSV/XLSX)", "write the valid rows, skip the bad ones",
             _import_history)):
        file_import = imp_sub.add_parser(kind, help=about)
        file_import.add_argument("file")
        file_import.add_argument("--partial", action="store_true", help=partial)
        file_import.add_argument("--report", type=_writable,
                                 help="write every bad value to this CSV file")
        file_import.add_argument("--show", type=_count, default=50, help="bad values to print")
        file_import.set_defaults(func=func)
        if kind == "households":
            file_import.add_argument(
                "--as-of", type=_date, default=None,
                help="the day the export describes (YYYY-MM-DD), for a past year's registry: "
                     "import such exports oldest first")
        if kind == "annual-records":
            file_import.add_argument(
                "--lag-days", type=_count, default=90,
                help="without a recorded date, a year's record counts as known this many "
                     "days after the year ended (default 90)")
        if kind == "shocks":
            file_import.add_argument(
                "--lag-days", type=_count, default=30,
                help="without a recorded date, a shock counts as known this many days after "
                     "it happened (default 30)")
    events = imp_sub.add_parser("events", help="a department's event file (CSV/XLSX)")
    events.add_argument("file")
    events.add_argument("--source", required=True,
                        help="the department: its name or organisation code")
    events.set_defaults(func=_import_events)

    simulate = sub.add_parser("simulate", help="the demo county with a simulated history "
                              "(registry changes, shocks, income reports) to train the risk "
                              "model on; prints the simulator card")
    simulate.add_argument("--households", type=int, default=15_000)
    simulate.add_argument("--seed", type=int, default=20171106)
    simulate.set_defaults(func=_simulate)

    train = sub.add_parser("train", help="train the risk model, keep it as a version and put "
                           "it in force if it beats both baselines out of time")
    test_on = train.add_mutually_exclusive_group(required=True)
    test_on.add_argument("--test-day", type=_date,
                         help="the later day it is evaluated on, out of time (e.g. 2025-01-01)")
    test_on.add_argument("--test-year", type=_year,
                         help="the same as --test-day YEAR-01-01")
    train.add_argument("--train-days", type=_date, nargs="+",
                       help="days to learn from (default: quarter starts from four years "
                            "before the test day to a year before it)")
    train.add_argument("--model-dir", help="default FANGPIN_MODEL_DIR (var/model)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--description", default="the county's records",
                       help="what the data are, for the model card")
    train.set_defaults(func=_train)

    versions = sub.add_parser("model", help="the risk model's versions: list, promote, rollback")
    versions.add_argument("action", choices=["list", "promote", "rollback"],
                          help="rollback: back to the version in force before this one")
    versions.add_argument("version", nargs="?", help="promote: the version to put in force")
    versions.add_argument("--model-dir", help="default FANGPIN_MODEL_DIR (var/model)")
    versions.set_defaults(func=_model)

    evaluate = sub.add_parser("evaluate", help="evaluate received events (and open claims)")
    evaluate.add_argument("--follow", action="store_true",
                          help="keep running, evaluating new events as they arrive (with "
                               "FANGPIN_EVALUATE_EVENTS=separately on the API workers)")
    evaluate.add_argument("--poll", type=_seconds, default=1.0,
                          help="--follow: seconds between looks for new events")
    evaluate.add_argument("--lanes", type=int, default=1,
                          help="PostgreSQL: evaluate in N processes side by side, each a lane "
                               "of the households (default 1)")
    evaluate.add_argument("--lane", metavar="K/N",
                          help="PostgreSQL: evaluate only the K-th of N lanes (with --follow, "
                               "run one such process per lane)")
    evaluate.set_defaults(func=_evaluate)

    score = sub.add_parser("score", help="score every household's risk now (the nightly run)")
    score.add_argument("--model-dir", help="default FANGPIN_MODEL_DIR (var/model)")
    score.add_argument("--threshold", type=_share,
                       help="warn at this score or above (default FANGPIN_RISK_THRESHOLD)")
    score.add_argument("--rise", type=_share,
                       help="warn at a rise this large (default FANGPIN_RISK_RISE)")
    score.add_argument("--night", type=_date,
                       help="the night the run belongs to and its features are as of "
                            "(default: today in FANGPIN_TIMEZONE)")
    score.add_argument("--chunk", type=_chunk, help="households a chunk (default "
                                                    "FANGPIN_SCORE_CHUNK, 50000)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    _engine_options(score)
    score.set_defaults(func=_score)

    monitor = sub.add_parser("monitor", help="evaluate the post-payout monitoring windows now")
    _engine_options(monitor)
    monitor.set_defaults(func=_monitor)

    nightly = sub.add_parser("scheduler", help="run the nightly jobs (risk scoring at "
                                               "FANGPIN_SCORE_TIME)")
    nightly.set_defaults(func=_scheduler)

    audit_cmd = sub.add_parser("audit", help="the audit trail")
    audit_cmd.add_argument("action", choices=["verify", "anchor"], help=(
        "verify: walk the chain and check it against the newest signed head; anchor: sign "
        "the chain's head now and write it out (FANGPIN_AUDIT_ANCHOR_FILE and the log)"))
    audit_cmd.add_argument("--anchors", metavar="FILE", help=(
        "where to find signed heads: an anchor file or a log (default: "
        "FANGPIN_AUDIT_ANCHOR_FILE)"))
    audit_cmd.set_defaults(func=_audit)

    users = sub.add_parser("users", help="add a staff user (prints the token once)")
    users.add_argument("name", help="username")
    users.add_argument("--role", required=True, choices=[
        "clerk", "investigator", "adjudicator", "supervisor", "auditor", "admin"])
    users.add_argument("--full-name")
    users.add_argument("--approval-limit")
    users.add_argument("--id-number", help=(
        "the person's ID number, so that the four-eyes rules know them (no approving their "
        "own household; one person, one account)"))
    users.add_argument("--townships", type=_ids, help=(
        "the townships the user works in, as region ids separated by commas (default: the "
        "whole county)"))
    users.set_defaults(func=_people, kind="user")
    token = sub.add_parser("token", help=(
        "give a staff user a new API token (the old one stops working; prints it once)"))
    token.add_argument("name", help="username")
    token.set_defaults(func=_new_token)

    password = sub.add_parser("password", help="set a staff user's web password")
    password.add_argument("name", help="username")
    password.add_argument("--stdin", action="store_true", help="read it from standard input")
    password.set_defaults(func=_password)

    clients = sub.add_parser("departments", help="add a department API key (printed once)")
    clients.add_argument("name")
    clients.add_argument("--organisation", choices=[
        "poverty_office", "medical_insurance", "civil_affairs", "disabled_federation",
        "emergency_management", "traffic_police", "education"],
        help="add a key for this department (without it: change the named key's remit)")
    clients.add_argument("--event-types", metavar="TYPE,…", help=(
        "the event types the key may send, comma-separated; 'default': its department's"))
    clients.set_defaults(func=_people, kind="client")

    terms = sub.add_parser("terms", help="benefit terms: validate, load, quote")
    terms.add_argument("action", choices=["validate", "load", "quote"])
    terms.add_argument("files", nargs="+",
                       help="validate: FILE…; load: FILE; quote: TERMS_FILE EVENTS_FILE")
    terms.add_argument("--key", help="load: the terms' key (default: the file name)")
    terms.add_argument("--contract", type=int, help="load: put the terms in force for it")
    terms.set_defaults(func=_terms)

    claims = sub.add_parser("claims", help="claims: recalculate under the present reading of "
                            "the terms")
    claims.add_argument("action", choices=["recalculate"])
    claims.add_argument("--dry-run", action="store_true",
                        help="list the claims whose entitlement changes, change nothing")
    claims.set_defaults(func=_claims)

    fund = sub.add_parser("fund", help="a contract's fund: show or settle")
    fund.add_argument("action", choices=["show", "settle"])
    fund.add_argument("contract", type=int)
    fund.add_argument("--as-of", help="show: the date (default today)")
    fund.add_argument("--next-contract", type=int, help="settle: carry the surplus into it")
    fund.set_defaults(func=_fund)

    from claims.documents import cli as documents_cli

    documents_cli.register(sub)
    documents = sub.choices["documents"]
    documents.set_defaults(func=_schema_checked_first(documents.get_default("func")))
    return parser


def main(argv: list[str] | None = None) -> int:
    import sqlalchemy as sa

    args = build_parser().parse_args(argv)
    _schema_checked.clear()  # once a command: a command before may have migrated it
    try:
        clock.use_county_clock(get_settings().timezone)
        if args.func in (_evaluate, _scheduler, _audit):
            # as the service logs: a scheduler or an evaluator of its own, and the signed
            # audit head written to the log, had logged nothing (an operator's); the other
            # commands answer on the terminal
            configure_logging(get_settings().log_level, get_settings().log_format)
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: the terminal's ^C ends no line
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except InvalidSettings as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (MissingDatabase, migrate.SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `fangpin terms quote … | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error as Python flushes at exit
        return 1
    except EOFError:  # a question on a terminal that is not there (a script, a pipe)
        print("error: standard input ended before an answer was given (for a password, "
              "give --stdin and pipe it in)", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder given for a file, a file that cannot be read
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).splitlines()[0]
        # a table missing is the schema's; a database or a role missing is the server's
        # (the hint to upgrade had been given for both, and upgrading needs them: an
        # operator's)
        table = "no such table" in reason or ("relation" in reason
                                              and "does not exist" in reason)
        hint = (" — the schema is missing or old: run 'fangpin db upgrade'" if table
                else " — check FANGPIN_DATABASE_URL: the server, the database and the role "
                "must exist" if "does not exist" in reason else "")
        print(f"error: the database answered: {reason}{hint}", file=sys.stderr)
        return 2
    finally:
        close_connections()  # SQLite's log folded into the file: a copy of it is whole


if __name__ == "__main__":
    sys.exit(main())

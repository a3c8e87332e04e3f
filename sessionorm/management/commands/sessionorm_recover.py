"""``manage.py sessionorm_recover``: prepared transactions in doubt (sessionorm.recovery)."""

from django.core.management.base import BaseCommand, CommandError

from sessionorm import recovery


class Command(BaseCommand):
    help = (
        "List prepared (two-phase) transactions left in doubt, and commit or roll them back. "
        "A dry run unless --commit or --rollback is given."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--commit", action="store_const", const="commit", dest="action")
        action.add_argument("--rollback", action="store_const", const="rollback", dest="action")
        parser.add_argument("--gid", action="append", dest="gids", help="only this one (repeat)")
        parser.add_argument("--older-than", type=float, metavar="SECONDS")
        parser.add_argument("--database", help="only this alias (default: every PostgreSQL one)")
        parser.add_argument(
            "--force", action="store_true", help="allow part of a group, or foreign"
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, action=None, gids=None, older_than=None, **options):
        try:
            found = recovery.survey(options["database"])
            items = recovery.select(found.items, gids, older_than)
            chosen = [i for i in items if not i.foreign or gids]
            results = recovery.resolve(chosen, action, force=options["force"]) if action else []
        except recovery.RecoveryError as exc:
            raise CommandError(str(exc)) from exc
        report = recovery.as_json if options["json"] else recovery.as_text
        self.stdout.write(report(found, items, action, results))
        error = recovery.failures(results)
        if error:
            raise CommandError(error)

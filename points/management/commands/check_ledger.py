"""`manage.py check_ledger [--guild ID]`: every member whose balance is not the sum of their ledger.

Prints one line per mismatch and a summary; exits 1 when there is any mismatch (for cron and CI), else 0.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from points.models import MemberProfile
from points.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Check every member's balance against the sum of their ledger entries; exit code 1 on a mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--guild", type=int, default=None, metavar="ID",
                            help="only this guild (its Discord id)")

    def handle(self, *args, guild=None, **options):
        profiles = MemberProfile.objects.all()
        if guild is not None:
            profiles = profiles.filter(guild__discord_id=guild)
        checked = profiles.count()
        mismatches = ledger_mismatches(guild_id=guild)
        for m in mismatches:
            self.stdout.write(f"guild {m.guild_id} user {m.user_id}: balance {m.balance}, ledger sum {m.ledger_sum} "
                              f"(difference {m.balance - m.ledger_sum:+d})")
        where = f" in guild {guild}" if guild is not None else ""
        if mismatches:
            raise CommandError(f"{len(mismatches)} of {checked} members{where} have a balance that differs from "
                               f"their ledger.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"OK: all {checked} members{where} match their ledger."))

# The verified role of a member unlinked on the admin site is now taken away through an outbox row
# (kind "role_del") instead of the RobloxLink.discord_cleanup_pending flag and the bot's sweep. Removals
# still pending when this runs become outbox rows, so none is lost in the upgrade.

from django.db import migrations
from django.utils import timezone


def pending_flags_to_outbox(apps, schema_editor):
    RobloxLink = apps.get_model("verification", "RobloxLink")
    GuildConfig = apps.get_model("botproject", "GuildConfig")
    OutboxMessage = apps.get_model("botproject", "OutboxMessage")
    now = timezone.now()
    for link in RobloxLink.objects.filter(discord_cleanup_pending=True).order_by("unlinked_at", "pk"):
        config = GuildConfig.objects.filter(guild_id=link.guild_id).first()
        if config is None or not config.verified_role_id:
            continue
        if RobloxLink.objects.filter(guild_id=link.guild_id, user_id=link.user_id, unlinked_at__isnull=True).exists():
            continue  # linked again since: the role stays
        OutboxMessage.objects.get_or_create(dedupe_key=f"verify:unlink:{link.pk}", defaults={
            "guild_id": link.guild_id, "kind": "role_del", "target_id": link.user_id,
            "message_id": config.verified_role_id,
            "content": f"unlinked Roblox {link.roblox_name} on the admin site",
            "embed": {"clear_nick": link.roblox_name} if config.verification_set_nickname else None,
            "available_at": now,
        })


def pending_outbox_to_flags(apps, schema_editor):
    RobloxLink = apps.get_model("verification", "RobloxLink")
    OutboxMessage = apps.get_model("botproject", "OutboxMessage")
    rows = OutboxMessage.objects.filter(kind="role_del", status="pending", dedupe_key__startswith="verify:unlink:")
    for row in rows:
        RobloxLink.objects.filter(pk=int(row.dedupe_key.rsplit(":", 1)[1])).update(discord_cleanup_pending=True)
    rows.update(status="skipped", last_error="handed back to the verification sweep (migration reversed)")


class Migration(migrations.Migration):

    dependencies = [
        ("botproject", "0006_outboxmessage_kind_role_remove"),
        ("verification", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(pending_flags_to_outbox, pending_outbox_to_flags),
        migrations.RemoveIndex(
            model_name="robloxlink",
            name="verify_cleanup_pending",
        ),
        migrations.RemoveField(
            model_name="robloxlink",
            name="discord_cleanup_pending",
        ),
    ]

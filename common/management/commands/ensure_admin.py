import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Make sure this site's admin has a superuser whose password is $DJANGO_SUPERUSER_PASSWORD "
            "(created, or its password set; `manage_all.sh up` keeps one password for every site).")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options):
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not password:
            raise CommandError("DJANGO_SUPERUSER_PASSWORD is not set")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = user.is_active = True
        # Setting the same password again would end the user's sessions (their hash covers the password's salt).
        if created or not user.check_password(password):
            user.set_password(password)
        user.save()
        self.stdout.write(f"admin user {user.username} {'created' if created else 'ready'}")

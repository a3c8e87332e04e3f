from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from demo import sample_data
from demo.models import Author, Book


class Command(BaseCommand):
    help = (
        "Create the demo's sample library (3 publishers, 10 authors, 50 books, 40 reviews) "
        "and the superuser admin/admin; each is skipped if it already exists."
    )

    def handle(self, *args, **options):
        from sessionorm import sessionmaker

        with sessionmaker().begin() as session:
            counts = sample_data.create(session)
        if counts.authors:
            data = (
                f"Created {counts.publishers} publishers, {counts.authors} authors, "
                f"{counts.books} books and {counts.reviews} reviews"
            )
        else:
            data = (
                f"Sample data already present ({Author.objects.count()} authors, "
                f"{Book.objects.count()} books)"
            )
        self.stdout.write(f"{data}; {self._superuser()}.")

    def _superuser(self):
        User = get_user_model()
        if User.objects.filter(username="admin").exists():
            return "the superuser admin already exists"
        User.objects.create_superuser("admin", "admin@example.com", "admin")
        return "created the superuser admin (password admin)"

"""The demo's URLs; include them with ``path("", include("demo.urls"))``."""

from django.urls import path

from demo import views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path("authors/add/", views.add_author, name="add_author"),
    path("authors/<int:pk>/delete/", views.delete_author, name="delete_author"),
    path("books/pages/", views.bulk_pages, name="bulk_pages"),
    path("dry-run/", views.dry_run, name="dry_run"),
]

"""The demo's admin. ``AuthorAdmin`` loads, saves and deletes through the
request's Session; the other models use the stock ModelAdmin for comparison."""

from django.contrib import admin

from demo.models import Author, Book, Publisher, Review


class SessionModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose objects live in ``request.dbsession``.

    Objects are loaded through the session (so the change form's assignments are
    tracked), saved with ``add()`` and deleted with ``delete()``; the middleware
    commits when the admin answers with a redirect or page, and rolls back on an
    error.

    The admin wraps its change and delete views in ``transaction.atomic()``. The
    request's Session is begun before that block, so the admin's block nests inside
    the Session's transaction as a savepoint and ends first; a Session that started
    inside the block would outlive it.
    """

    def _begin_session(self, request):
        session = request.dbsession
        if not session.in_transaction():
            session.connection(self.model)

    def get_queryset(self, request):
        queryset = request.dbsession.query(self.model)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._begin_session(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._begin_session(request)
        return super().delete_view(request, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        request.dbsession.add(obj)
        # The admin needs the new primary key right away (history entry, redirect
        # URL), so flush now; the commit stays with the middleware.
        request.dbsession.flush()

    def delete_model(self, request, obj):
        request.dbsession.delete(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            request.dbsession.delete(obj)


class BookInline(admin.TabularInline):
    model = Book
    extra = 0
    fields = ["title", "pages", "published"]
    show_change_link = True


@admin.register(Author)
class AuthorAdmin(SessionModelAdmin):
    list_display = ["name", "publisher"]
    list_filter = ["publisher"]
    search_fields = ["name"]
    inlines = [BookInline]


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "pages", "published", "updated_at"]
    list_filter = ["published"]
    search_fields = ["title", "author__name"]
    list_select_related = ["author"]
    readonly_fields = ["updated_at"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["book", "stars"]
    list_filter = ["stars"]
    list_select_related = ["book"]

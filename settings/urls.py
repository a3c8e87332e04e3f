from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
]

# The demo app is optional: the URLs work without it (e.g. a checkout without demo/).
if find_spec("demo") is not None and find_spec("demo.urls") is not None:
    urlpatterns.append(path("", include("demo.urls")))

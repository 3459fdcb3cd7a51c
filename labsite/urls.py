"""URL routes of the site."""
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Until the editor lands, the admin is the site's front page.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

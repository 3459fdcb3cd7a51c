"""URL routes of the HTML pages."""
from django.contrib.auth import views as auth_views
from django.urls import path

from ..signin import SignIn
from . import assignments, capture, courses, tokens, views
from . import help as help_pages
from .password import PasswordChange

urlpatterns = [
    path("login/", SignIn.as_view(), name="login"),  # Django's, with the attempt limits of topology/signin.py
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", PasswordChange.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", views.topology_list, name="topology-list"),
    path("courses/", courses.course_list, name="course-list"),
    path("courses/<int:pk>/", courses.course_detail, name="course-detail"),
    path("courses/<int:course_id>/assignments/new/", assignments.assignment_new, name="assignment-new"),
    path("courses/<int:course_id>/assignments/<int:pk>/", assignments.assignment_detail, name="assignment-detail"),
    path("topologies/<int:pk>/", views.editor, name="topology-editor"),
    path("topologies/<int:pk>/nodes/<str:name>/console/", views.terminal, {"kind": "console"}, name="node-console"),
    path("topologies/<int:pk>/nodes/<str:name>/logs/", views.terminal, {"kind": "logs"}, name="node-logs"),
    path("topologies/<int:pk>/capture/", capture.capture, name="capture"),
    path("tokens/", tokens.tokens, name="api-tokens"),
    path("tokens/<int:pk>/revoke/", tokens.revoke, name="api-token-revoke"),
    path("help/format/", help_pages.format_page, name="help-format"),
    path("help/examples/<str:name>", help_pages.example, name="help-example"),
]

"""Pages and fragment endpoints of the HMI; URL names look like hmi:overview."""

from django.urls import path

from hmi import views

app_name = "hmi"
urlpatterns = [
    path("", views.overview, name="overview"),
]

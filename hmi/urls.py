"""Pages and fragment endpoints of the HMI; URL names look like hmi:overview.

Each concern keeps its views in its own module and its routes in its own block below.
"""

from django.urls import path

from hmi import views

app_name = "hmi"
urlpatterns = [
    # Live screens
    path("", views.overview, name="overview"),
    # Setpoint writes and audit
    # Historian: trends, history API, export
    # Alarms
]

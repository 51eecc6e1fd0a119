"""Pages and fragment endpoints of the HMI; URL names look like hmi:overview.

Each concern keeps its views in its own module and its routes in its own block below.
"""

from django.urls import path

from hmi import (
    alarm_views,
    config_history_views,
    energy_views,
    health_views,
    history_views,
    maintenance_views,
    oee_views,
    openapi,
    preference_views,
    quality_views,
    report_views,
    screen_views,
    security_event_views,
    setpoint_audit,
    setpoint_views,
)

app_name = "hmi"
urlpatterns = [
    # Live screens
    path("", screen_views.overview, name="overview"),
    path("plants/<int:pk>/", screen_views.plant_detail, name="plant_detail"),
    path("lines/<int:pk>/", screen_views.line_detail, name="line_detail"),
    path("machines/<int:pk>/", screen_views.machine_detail, name="machine_detail"),
    path("tags/<int:pk>/", screen_views.tag_detail, name="tag_detail"),
    # The status bar of every page: are values current, and the product's own faults
    path("status/", health_views.system_status, name="system_status"),
    # Setpoint writes and audit
    path("tags/<int:pk>/setpoint/", setpoint_views.setpoint_panel, name="setpoint_panel"),
    path("tags/<int:pk>/setpoint/form/", setpoint_views.setpoint_form, name="setpoint_form"),
    path("tags/<int:pk>/setpoint/review/", setpoint_views.review_setpoint, name="review_setpoint"),
    path("tags/<int:pk>/setpoint/write/", setpoint_views.write_setpoint, name="write_setpoint"),
    path("setpoint-writes/<int:pk>/", setpoint_views.setpoint_status, name="setpoint_status"),
    path("loops/<int:pk>/mode/", setpoint_views.set_loop_mode, name="set_loop_mode"),
    path("audit/setpoints/", setpoint_audit.setpoint_audit, name="setpoint_audit"),
    path("audit/setpoints.csv", setpoint_audit.setpoint_audit_csv, name="setpoint_audit_csv"),
    # The configuration history
    path("audit/configuration/", config_history_views.config_history, name="config_history"),
    path(
        "audit/configuration.csv",
        config_history_views.config_history_csv,
        name="config_history_csv",
    ),
    # Security events: admins
    path("audit/security/", security_event_views.security_events_page, name="security_events"),
    path(
        "audit/security.csv", security_event_views.security_events_csv, name="security_events_csv"
    ),
    # Historian: trends, history API, export
    path("trend/", history_views.trend, name="trend"),
    path("history/export.csv", history_views.export_csv, name="history_export"),
    path("api/history/", history_views.history_api, name="history_api"),
    path("api/current/", history_views.current_api, name="current_api"),
    path("api/markers/", history_views.markers_api, name="markers_api"),
    # Predictive maintenance: machines by urgency, health cards, the API and CSV
    path("maintenance/", maintenance_views.maintenance_list, name="maintenance"),
    path("maintenance/machines/<int:pk>/", maintenance_views.health_card, name="health_card"),
    path("maintenance/export.csv", maintenance_views.maintenance_csv, name="maintenance_csv"),
    path("api/maintenance/", maintenance_views.maintenance_api, name="maintenance_api"),
    # Quality: SPC and the ℮ rule (screens, JSON API, hourly CSV)
    path("quality/", quality_views.quality_index, name="quality_index"),
    path("quality/<int:pk>/", quality_views.quality_tag, name="quality_tag"),
    path("quality/<int:pk>/live/", quality_views.quality_live, name="quality_live"),
    path("quality/<int:pk>/hours/", quality_views.quality_hours, name="quality_hours"),
    path("quality/export.csv", quality_views.quality_export, name="quality_export"),
    path("api/quality/", quality_views.quality_api, name="quality_api"),
    path("api/quality/charts/", quality_views.quality_chart_api, name="quality_chart_api"),
    # The OpenAPI document of the JSON API (no login: it describes shapes, shows no data)
    path("api/openapi.json", openapi.openapi_json, name="openapi"),
    # Energy: per line and plant, per shift and day; demand against the contracted peak
    # Shift reports
    path("reports/", report_views.reports_index, name="reports_index"),
    path("reports/build/", report_views.report_build, name="report_build"),
    path("reports/<int:pk>/", report_views.report_detail, name="report_detail"),
    path("reports/<int:pk>/pdf/", report_views.report_pdf, name="report_pdf"),
    path("reports/<int:pk>/csv/", report_views.report_csv, name="report_csv"),
    path("energy/", energy_views.energy_index, name="energy_index"),
    path("energy/plants/<int:pk>/", energy_views.energy_plant, name="energy_plant"),
    path("energy/plants/<int:pk>/demand/", energy_views.energy_demand, name="energy_demand"),
    path("energy/export.csv", energy_views.energy_export, name="energy_export"),
    path("api/energy/", energy_views.energy_api, name="energy_api"),
    path("api/energy/demand/", energy_views.demand_api, name="energy_demand_api"),
    # Alarms
    path("alarms/", alarm_views.alarm_summary, name="alarm_summary"),
    path("alarms/banner/", alarm_views.alarm_banner, name="alarm_banner"),
    path("alarms/history/", alarm_views.alarm_history, name="alarm_history"),
    path("alarms/kpis/", alarm_views.alarm_kpis_page, name="alarm_kpis"),
    path("alarms/acknowledge-all/", alarm_views.acknowledge_all, name="acknowledge_all"),
    path("alarms/<int:pk>/acknowledge/", alarm_views.acknowledge_alarm, name="acknowledge_alarm"),
    path("alarms/<int:pk>/shelve/", alarm_views.shelve_alarm, name="shelve_alarm"),
    path("alarms/<int:pk>/unshelve/", alarm_views.unshelve_alarm, name="unshelve_alarm"),
    # OEE: screens, the stops' reasons, the API and the export
    path("oee/", oee_views.oee_overview, name="oee_overview"),
    path("oee/machines/<int:pk>/", oee_views.oee_machine, name="oee_machine"),
    path("oee/machines/<int:pk>/panel/", oee_views.oee_machine_panel, name="oee_machine_panel"),
    path("oee/machines/<int:pk>/stops/", oee_views.tag_stop, name="tag_stop"),
    path("oee/lines/<int:pk>/", oee_views.oee_line, name="oee_line"),
    path("oee/export.csv", oee_views.oee_export, name="oee_export"),
    path("api/oee/", oee_views.oee_api, name="oee_api"),
    # A person's own preferences: the colour theme
    path("preferences/theme/", preference_views.set_theme, name="set_theme"),
]

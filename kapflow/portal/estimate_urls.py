app_name = "portal_estimates"

urlpatterns: list = []

app_name = "portal_billing"

urlpatterns: list = []

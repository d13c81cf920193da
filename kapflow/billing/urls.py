app_name = "client_billing"

urlpatterns: list = []

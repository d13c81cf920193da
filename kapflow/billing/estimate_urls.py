app_name = "estimates"

urlpatterns: list = []

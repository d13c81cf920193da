app_name = "income"

urlpatterns: list = []

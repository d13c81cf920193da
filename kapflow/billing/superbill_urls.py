app_name = "superbills"

urlpatterns: list = []

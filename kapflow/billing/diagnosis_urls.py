app_name = "diagnoses"

urlpatterns: list = []

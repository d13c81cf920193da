app_name = "pathway"

urlpatterns = []

app_name = "consent_documents"

urlpatterns = []

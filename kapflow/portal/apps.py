from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kapflow.portal"
    label = "portal"
    verbose_name = "Client portal"

    def ready(self) -> None:
        # A corrected email address on a client's or a guardian's record ends the invitations
        # sent to the old one. The clients app calls this; it may not import the portal.
        from kapflow.clients.services import on_address_changed
        from kapflow.portal.services import invitations_revoke_for_address

        on_address_changed(invitations_revoke_for_address)

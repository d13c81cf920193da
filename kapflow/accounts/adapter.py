from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Nobody signs themselves up: the practice admin invites staff, and clients are invited to
    their portal by their practice."""

    def is_open_for_signup(self, request):
        return False

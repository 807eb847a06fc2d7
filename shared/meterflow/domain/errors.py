"""A refusal that names the field at fault: how every domain validation reports, whatever it checks."""


class FieldError(ValueError):
    """`param` is the faulty field's path (`tiers[1].up_to`, `timestamp`); `message` says what is wrong."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param
        self.message = message

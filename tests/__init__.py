# Outside dev a placeholder SIYAKHA_SECRET_KEY is refused; the test and benchmark apps use this.
TEST_SECRET_KEY = "siyakha-tests-only-not-a-secret-0123456789"

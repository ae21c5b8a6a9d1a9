"""Operations on the lab's software, in the verbs the article uses. Tests never build shell strings."""

# Every container a test starts is named with this prefix (weave reset clears them: Weave.reset).
TEST_CONTAINER_PREFIX = "nwl-"

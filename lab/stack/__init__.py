"""Operations on the lab's software, in the verbs the article uses. Tests never build shell strings."""

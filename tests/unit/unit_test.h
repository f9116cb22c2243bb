/* unit_test.h - the main function every cmocka unit test program shares. */
#ifndef STSD_UNIT_TEST_H
#define STSD_UNIT_TEST_H

/* int main: run the listed tests (cmocka_unit_test(...), ...) as one group, after `setup` (a
 * cmocka group setup function, or NULL); the exit status is the number of failures. */
#define UNIT_TESTS(setup, ...)                                                                     \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest tests[] = {__VA_ARGS__};                                           \
        return cmocka_run_group_tests(tests, setup, NULL);                                         \
    }

#endif

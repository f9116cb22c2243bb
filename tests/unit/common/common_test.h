/* common_test.h - the tests of test_parse.c, which test_common.c's main runs with its own. */
#ifndef STSD_COMMON_TEST_H
#define STSD_COMMON_TEST_H

void test_value_parsers(void **state);
void test_formats(void **state);
void test_window(void **state);
void test_domain_table(void **state);
void test_domain_normalise(void **state);
void test_resolver_parse(void **state);

#endif

/*
 * test.h - the unit test harness: TEST(name) registers a test at start-up;
 * CHECK* macros print file:line and both values on failure and let the test
 * go on; REQUIRE* also return from the test. One runner (main.c) runs them
 * all and ends with exactly "N passed, N failed".
 */
#ifndef DROVER_TEST_H
#define DROVER_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *test_data(const char *rel);	/* path under tests/data, static buf */
const char *test_tmpdir(void);		/* fresh per test, removed after */

#define TEST(name)							\
	static void name(void);						\
	__attribute__((constructor)) static void name##_register(void)	\
	{ test_register(#name, name); }					\
	static void name(void)

#define CHECK(c) do {							\
	if (!(c)) test_fail(__FILE__, __LINE__, "%s", #c);		\
} while (0)
#define REQUIRE(c) do {							\
	if (!(c)) { test_fail(__FILE__, __LINE__, "%s", #c); return; }	\
} while (0)
#define CHECK_INT(a, b) do {						\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	if (a_ != b_) test_fail(__FILE__, __LINE__,			\
	    "%s == %s: %lld != %lld", #a, #b, a_, b_);			\
} while (0)
#define CHECK_STR(a, b) do {						\
	const char *a_ = (a), *b_ = (b);				\
	if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)		\
		test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
		    #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");	\
} while (0)
#define CHECK_DBL(a, b, eps) do {					\
	double a_ = (a), b_ = (b);					\
	if (!(fabs(a_ - b_) <= (eps)))					\
		test_fail(__FILE__, __LINE__, "%s == %s: %.10g != %.10g", \
		    #a, #b, a_, b_);					\
} while (0)

#endif

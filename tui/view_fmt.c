/*
 * view_fmt.c - how the views and the CLI write numbers, times and
 * durations in cells: "-" for nothing, non-finite values as the trainer
 * wrote them, durations as 3d04h, 2h05m, 4m07s, 12s.
 */
#include "console.h"

#include <stdio.h>
#include <time.h>

void
fmt_num(char *buf, size_t len, const json_t *v, const char *fmt)
{
	if (json_is_integer(v))
		snprintf(buf, len, fmt, (double)json_integer_value(v));
	else if (json_is_number(v))
		snprintf(buf, len, fmt, json_number_value(v));
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else
		snprintf(buf, len, "-");
}

void
fmt_dur(char *buf, size_t len, double s)
{
	long long t = (long long)(s + 0.5);

	if (s < 0 || s != s)
		snprintf(buf, len, "-");
	else if (t >= 86400)
		snprintf(buf, len, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
	else if (t >= 3600)
		snprintf(buf, len, "%lldh%02lldm", t / 3600, t % 3600 / 60);
	else if (t >= 60)
		snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
	else
		snprintf(buf, len, "%llds", t);
}

void
fmt_time(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%m-%d %H:%M:%S", &tm);
}

const char *
jstr_or(const json_t *o, const char *key, const char *none)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : none;
}

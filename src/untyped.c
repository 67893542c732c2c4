/*-------------------------------------------------------------------------
 *
 * untyped.c
 *		Meaning for parameters that arrive untyped.
 *
 * Many client libraries send every parameter with the protocol's "unknown"
 * type.  pgmq's overloads then leave calls such as
 * pgmq.set_vt($1, $2, $3) ambiguous.  Postgres resolves unknown arguments
 * toward string-category candidates (docs, "Type Conversion: Functions",
 * step 4e), so each ambiguous call shape has an extra overload taking text
 * at the ambiguous positions: all parameters untyped, or only the message
 * or id typed.  Typed calls still resolve as before, because no non-string
 * type converts implicitly to text.  Those overloads decide the meaning
 * from the value, with the helpers here.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "utils/lsyscache.h"

static const char *
skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Past an optional sign and a run of digits; *digits says if there were any. */
static const char *
skip_signed_digits(const char *p, bool *digits)
{
	if (*p == '+' || *p == '-')
		p++;
	*digits = isdigit((unsigned char) *p);
	while (isdigit((unsigned char) *p))
		p++;
	return p;
}

/* An optionally signed run of digits: a count of seconds, or an id. */
bool
untyped_is_integer(const char *value)
{
	bool		digits;
	const char *p = skip_signed_digits(skip_spaces(value), &digits);

	return digits && *skip_spaces(p) == '\0';
}

/* Starts with '{': an array literal, or (for jsonb) an object. */
bool
untyped_is_array_or_object(const char *value)
{
	return *skip_spaces(value) == '{';
}

/* Starts with '[': a JSON array. */
bool
untyped_is_json_array(const char *value)
{
	return *skip_spaces(value) == '[';
}

/*
 * The value read by the input function of typid; its errors are the
 * type's, except that an input function's message quoting a long value
 * whole ("invalid input syntax for type timestamp with time zone:" and 4 MB)
 * quotes it cut (shown_input).
 */
Datum
untyped_parse(const char *value, Oid typid)
{
	Oid			typinput;
	Oid			typioparam;
	MemoryContext context = CurrentMemoryContext;
	Datum		result;

	getTypeInputInfo(typid, &typinput, &typioparam);
	PG_TRY();
	{
		result = OidInputFunctionCall(typinput, (char *) value, typioparam, -1);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *quoted;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		quoted = psprintf("\"%s\"", value);
		if (strlen(value) <= NAMEDATALEN || edata->message == NULL ||
			strstr(edata->message, quoted) == NULL)
			PG_RE_THROW();
		FlushErrorState();
		*strstr(edata->message, quoted) = '\0';
		edata->message = psprintf("%s\"%s\"", edata->message, shown_input(value));
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

/*
 * A decimal number: digits, maybe a decimal point and an exponent.  (The
 * timestamp parser would read "1.5" as a malformed date.)
 */
static bool
untyped_is_number(const char *value)
{
	bool		digits;
	bool		fraction = false;
	const char *p = skip_signed_digits(skip_spaces(value), &digits);

	if (*p == '.')
		for (p++; isdigit((unsigned char) *p); p++)
			fraction = true;
	if (!digits && !fraction)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		p = skip_signed_digits(p + 1, &digits);
		if (!digits)
			return false;
	}
	return *skip_spaces(p) == '\0';
}

/* A delay given either as seconds from now or as a timestamp. */
TimestampTz
untyped_delay(const char *value, const char *argname)
{
	TimestampTz ts;

	if (untyped_is_integer(value))
		return vt_after_seconds(DatumGetInt32(untyped_parse(value, INT4OID)), argname);
	if (untyped_is_number(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a whole number of seconds or a timestamp", argname),
				 errdetail("\"%s\" is a fractional number.", value),
				 errhint("Round it to whole seconds, or give the time to become visible as a timestamp.")));
	ts = DatumGetTimestampTz(untyped_parse(value, TIMESTAMPTZOID));
	check_finite_timestamp(ts, argname);
	return ts;
}

/*
 * The third of three untyped arguments of send, send_batch or
 * send_batch_topic (fname): headers when it is a JSON object, or for a
 * batch an array literal of them ('{...}'); else a delay, returned as text
 * (NULL, the argument being NULL: neither).  A JSON array is neither, and
 * an error.  Headers are parsed as jsonb, or jsonb[] for a batch.
 */
char *
untyped_headers_or_delay(char *third, const char *fname, bool batch, Datum *headers,
						 bool *headers_null)
{
	*headers_null = true;
	*headers = (Datum) 0;
	if (third != NULL && untyped_is_json_array(third))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the third argument of %s is a JSON array, which is neither headers nor a delay",
						fname),
				 errdetail("With three untyped arguments the third is headers when it is %s, a delay in seconds when it is an integer, and a time to become visible when it is a timestamp.",
						   batch ? "an array of JSON objects ('{...}')" : "a JSON object"),
				 batch ? errhint("Pass the headers as an array literal of JSON objects ('{\"{...}\", ...}'), or cast the argument to say what it is (::jsonb[] for headers, ::integer for a delay).")
				 : errhint("Pass the headers as a JSON object, or cast the argument to say what it is (::jsonb for headers, ::integer for a delay).")));
	if (third != NULL && untyped_is_array_or_object(third))
	{
		*headers = untyped_parse(third, batch ? JSONBARRAYOID : JSONBOID);
		*headers_null = false;
		return NULL;
	}
	return third;
}

/*
 * Argument argno of a function with untyped overloads, as jsonb (or
 * jsonb[], typid): as given when its overload takes it typed, else parsed
 * from the text it arrived as.  *isnull says it was NULL.
 */
Datum
untyped_arg_json(FunctionCallInfo fcinfo, int argno, bool typed, Oid typid, bool *isnull)
{
	*isnull = PG_ARGISNULL(argno);
	if (*isnull)
		return (Datum) 0;
	if (typed)
		return PG_GETARG_DATUM(argno);
	return untyped_parse(text_to_cstring(PG_GETARG_TEXT_PP(argno)), typid);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe-harness build of the kernel's dynamic-event test module
 * (kernel/trace/kprobe_event_gen_test.c), for mips64el with the
 * "abi" probe profile.
 *
 * Loading it builds two dynamic events from kernel code and switches them on:
 * an entry probe on do_sys_open whose command is started with two fields and
 * finished with the rest, and a return probe on the same function.  Unloading
 * switches both off, hands back the event files and deletes the events.
 *
 * By hand:  insmod kprobe_event_gen_test.ko; cat /sys/kernel/tracing/trace; rmmod kprobe_event_gen_test
 */

#include <linux/module.h>
#include <linux/trace_events.h>

static struct trace_event_file *gen_kprobe_test;
static struct trace_event_file *gen_kretprobe_test;

#define KPROBE_GEN_TEST_FUNC	"do_sys_open"
#define KPROBE_GEN_TEST_EVENT	"gen_kprobe_test"
#define KRETPROBE_GEN_TEST_EVENT	"gen_kretprobe_test"

#define KPROBE_GEN_TEST_ARG0	"dfd=%r4:s32"
#define KPROBE_GEN_TEST_ARG1	"filename=+0(%r5):ustring"
#define KPROBE_GEN_TEST_ARG2	"flags=%r6:x32"
#define KPROBE_GEN_TEST_ARG3	"mode=%r7:x16"
#define KRETPROBE_GEN_TEST_ARG0	"$retval"

static bool trace_event_file_is_valid(struct trace_event_file *input)
{
	return input && !IS_ERR(input);
}

/* Entry probe: start the command with two fields, add the others, register. */
static int __init test_gen_kprobe_cmd(void)
{
	struct dynevent_cmd cmd;
	char *buf;
	int ret;

	/* the command text is assembled in this buffer */
	buf = kzalloc(MAX_DYNEVENT_CMD_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	kprobe_event_cmd_init(&cmd, buf, MAX_DYNEVENT_CMD_LEN);

	/* event name, probed function and the first two fields */
	ret = kprobe_event_gen_cmd_start(&cmd, KPROBE_GEN_TEST_EVENT,
					 KPROBE_GEN_TEST_FUNC,
					 KPROBE_GEN_TEST_ARG0, KPROBE_GEN_TEST_ARG1);
	if (ret)
		goto out;

	/* the remaining fields go in through the add call */

	ret = kprobe_event_add_fields(&cmd, KPROBE_GEN_TEST_ARG2, KPROBE_GEN_TEST_ARG3);
	if (ret)
		goto out;

	/* only now is the event registered */
	ret = kprobe_event_gen_cmd_end(&cmd);
	if (ret)
		goto out;

	/*
	 * Hold a reference on the event file, so that neither the event nor
	 * its (top-level) trace instance can go away while it is in use.
	 */
	gen_kprobe_test = trace_get_event_file(NULL, "kprobes",
					       KPROBE_GEN_TEST_EVENT);
	if (IS_ERR(gen_kprobe_test)) {
		ret = PTR_ERR(gen_kprobe_test);
		goto delete;
	}

	/* a registered event records nothing until it is switched on */
	ret = trace_array_set_clr_event(gen_kprobe_test->tr,
					"kprobes", KPROBE_GEN_TEST_EVENT, true);
	if (ret) {
		trace_put_event_file(gen_kprobe_test);
		goto delete;
	}
 out:
	kfree(buf);
	return ret;
 delete:
	if (trace_event_file_is_valid(gen_kprobe_test))
		gen_kprobe_test = NULL;
	/* registered but unusable: take it away again */
	kprobe_event_delete(KPROBE_GEN_TEST_EVENT);
	goto out;
}

/* Return probe: one command with the function and its return value. */
static int __init test_gen_kretprobe_cmd(void)
{
	struct dynevent_cmd cmd;
	char *buf;
	int ret;

	buf = kzalloc(MAX_DYNEVENT_CMD_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	kprobe_event_cmd_init(&cmd, buf, MAX_DYNEVENT_CMD_LEN);

	ret = kretprobe_event_gen_cmd_start(&cmd, KRETPROBE_GEN_TEST_EVENT,
					    KPROBE_GEN_TEST_FUNC,
					    KRETPROBE_GEN_TEST_ARG0);
	if (ret)
		goto out;

	ret = kretprobe_event_gen_cmd_end(&cmd);
	if (ret)
		goto out;

	/* as for the entry probe: a reference first, then switch it on */
	gen_kretprobe_test = trace_get_event_file(NULL, "kprobes",
						  KRETPROBE_GEN_TEST_EVENT);
	if (IS_ERR(gen_kretprobe_test)) {
		ret = PTR_ERR(gen_kretprobe_test);
		goto delete;
	}

	ret = trace_array_set_clr_event(gen_kretprobe_test->tr,
					"kprobes", KRETPROBE_GEN_TEST_EVENT, true);
	if (ret) {
		trace_put_event_file(gen_kretprobe_test);
		goto delete;
	}
 out:
	kfree(buf);
	return ret;
 delete:
	if (trace_event_file_is_valid(gen_kretprobe_test))
		gen_kretprobe_test = NULL;
	kprobe_event_delete(KRETPROBE_GEN_TEST_EVENT);
	goto out;
}

static int __init kprobe_event_gen_test_init(void)
{
	int ret;

	ret = test_gen_kprobe_cmd();
	if (ret)
		return ret;

	ret = test_gen_kretprobe_cmd();
	if (ret) {
		if (trace_event_file_is_valid(gen_kretprobe_test)) {
			WARN_ON(trace_array_set_clr_event(gen_kretprobe_test->tr,
							  "kprobes",
							  KRETPROBE_GEN_TEST_EVENT, false));
			trace_put_event_file(gen_kretprobe_test);
		}
		WARN_ON(kprobe_event_delete(KRETPROBE_GEN_TEST_EVENT));
	}

	return ret;
}

static void __exit kprobe_event_gen_test_exit(void)
{
	if (trace_event_file_is_valid(gen_kprobe_test)) {
		/* an enabled event cannot be deleted: switch it off first */
		WARN_ON(trace_array_set_clr_event(gen_kprobe_test->tr,
						  "kprobes",
						  KPROBE_GEN_TEST_EVENT, false));

		trace_put_event_file(gen_kprobe_test);
	}

	/* unregister the event and free it */
	WARN_ON(kprobe_event_delete(KPROBE_GEN_TEST_EVENT));

	if (trace_event_file_is_valid(gen_kretprobe_test)) {
		WARN_ON(trace_array_set_clr_event(gen_kretprobe_test->tr,
						  "kprobes",
						  KRETPROBE_GEN_TEST_EVENT, false));

		trace_put_event_file(gen_kretprobe_test);
	}

	WARN_ON(kprobe_event_delete(KRETPROBE_GEN_TEST_EVENT));
}


/*
 * The probe-grammar target (kprobe-harness): functions of this module that the guest has it call
 * with values chosen in advance, so every field a probe records on them can be checked exactly.
 *
 * /sys/kernel/debug/kh_grammar/
 *   create  write: build every event below through the gen API, and switch each one on
 *   refuse  write a case name: build that malformed definition, which the API must refuse
 *   call    write: call kh_args() and kh_data() once per set of values
 *   status  read: what each build returned, and where the label inside kh_args() is
 * Unloading switches the events off and deletes them.
 */

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kallsyms.h>
#include <linux/mman.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_buf.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define KH_CALLS	3
#define KH_STRINGS	5
#define KH_PAGE_BEFORE	20
#define KH_UVAL_AT	2048	/* where *d->uval sits in the user pages, after the strings */
#define KH_USER_PAGES	4	/* the strings, and from the third page on the one longer than the limit */

struct kh_inner {
	u64 value;
	struct kh_inner *next;
};

struct kh_data {
	s8 s8v;
	u8 u8v;
	s16 s16v;
	u16 u16v;
	s32 s32v;
	u32 u32v;
	s64 s64v;
	u64 u64v;
	char c;
	u32 bits;
	u32 arr[4];
	struct kh_inner *inner;
	u32 *tail;
	u64 __user *uval;
	void *fn;
	const char *kstr[7];
	const char __user *ustr[7];
};

/* what kh_data's members hold on each call */
struct kh_values {
	s8 s8v;
	u8 u8v;
	s16 s16v;
	u16 u16v;
	s32 s32v;
	u32 u32v;
	s64 s64v;
	u64 u64v;
	char c;
	u32 bits;
	u32 arr[4];
	u64 inner, next, uval;
};

u64 kh_globals[4];
unsigned long kh_sink;
unsigned long kh_args(unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5, unsigned long a6, unsigned long a7, unsigned long a8, unsigned long a9, unsigned long a10);
void kh_data(const struct kh_data *d, struct file *file, struct dentry *dentry);
extern const unsigned long kh_args_mid;

u64 kh_globals[4] = { 0x123456789abcdefULL, 0xfeedfacecafebeefULL, 0x5a5a5a5a5a5a5a5aULL, 0x1ULL };
unsigned long kh_sink;
static unsigned long kh_ret_value;

static const unsigned long kh_arg_values[KH_CALLS][10] = {
	{ 0x80UL, 0x7fUL, 0xffUL, 0x8000UL, 0x7fffUL, 0xffffUL, 0x80000000UL, 0x7fffffffUL, 0xffffffffUL, 0x8000000000000000UL },
	{ 0x0UL, 0x1UL, 0xffffffffffffffffUL, 0xfffffffffffffffeUL, 0x123456789abcdefUL, 0xfedcba9876543210UL, 0x7fffffffffffffffUL, 0x100UL, 0x10000UL, 0x100000000UL },
	{ 0xa0a0a0a0a0a0a0a0UL, 0xa0a0a0a0a0a0a0a1UL, 0xa0a0a0a0a0a0a0a2UL, 0xa0a0a0a0a0a0a0a3UL, 0xa0a0a0a0a0a0a0a4UL, 0xa0a0a0a0a0a0a0a5UL, 0xa0a0a0a0a0a0a0a6UL, 0xa0a0a0a0a0a0a0a7UL, 0xa0a0a0a0a0a0a0a8UL, 0xa0a0a0a0a0a0a0a9UL },
};

static const unsigned long kh_ret_values[KH_CALLS] = {
	0x0UL,
	0xffffffffffffffffUL,
	0x5a5a5a5a5a5a5a5aUL,
};

static const struct kh_values kh_values[KH_CALLS] = {
	{
		.s8v = (-0x7f - 1),
		.u8v = 0xffU,
		.s16v = (-0x7fff - 1),
		.u16v = 0xffffU,
		.s32v = (-0x7fffffff - 1),
		.u32v = 0xffffffffU,
		.s64v = (-0x7fffffffffffffffLL - 1),
		.u64v = 0xffffffffffffffffULL,
		.c = 'A', .bits = 0xdeadbeef,
		.arr = { 0x1, 0x2, 0x3, 0x4 },
		.inner = 0x1111222233334444ULL, .next = 0x5555666677778888ULL,
		.uval = 0xffffffffffffffffULL,
	},
	{
		.s8v = 127,
		.u8v = 0x0U,
		.s16v = 32767,
		.u16v = 0x0U,
		.s32v = 2147483647,
		.u32v = 0x0U,
		.s64v = 9223372036854775807LL,
		.u64v = 0x0ULL,
		.c = 'z', .bits = 0x0,
		.arr = { 0xffffffff, 0x0, 0x80000000, 0x7fffffff },
		.inner = 0x0ULL, .next = 0x1ULL,
		.uval = 0x0ULL,
	},
	{
		.s8v = (-0x1),
		.u8v = 0x5aU,
		.s16v = 1,
		.u16v = 0xa55aU,
		.s32v = (-0x2),
		.u32v = 0x12345678U,
		.s64v = (-0x123456789abcdefLL),
		.u64v = 0x8000000000000001ULL,
		.c = '~', .bits = 0xffffffff,
		.arr = { 0xa, 0x14, 0x1e, 0x28 },
		.inner = 0x8000000000000000ULL, .next = 0x7fffffffffffffffULL,
		.uval = 0x102030405060708ULL,
	},
};

static const char *const kh_kstrings[KH_STRINGS] = {
	"",
	"h",
	"opqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
	"vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzAB",
	"CDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
};
static const char *const kh_ustrings[KH_STRINGS] = {
	"",
	"p",
	"wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij",
	"DEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
	"KLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR",
};
static const char kh_kpage_string[] = "qrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";
static const char kh_upage_string[] = "xyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789a";
static const char kh_klimit_string[] = "yzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab";
static const char kh_ulimit_string[] = "FGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghi";

noinline unsigned long kh_args(unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5, unsigned long a6, unsigned long a7, unsigned long a8, unsigned long a9, unsigned long a10)
{
	WRITE_ONCE(kh_sink, a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10);
	/* a label past the entry, on an instruction boundary: where the kh_offset probe sits */
	asm volatile("1:\n\t"
		     ".pushsection .data\n\t"
		     ".balign 8\n"
		     "kh_args_mid:\n\t"
		     ".quad 1b\n\t"
		     ".popsection");
	return READ_ONCE(kh_ret_value);
}

noinline void kh_data(const struct kh_data *d, struct file *file, struct dentry *dentry)
{
	WRITE_ONCE(kh_sink, (unsigned long)d ^ (unsigned long)file ^ (unsigned long)dentry);
}

struct kh_def {
	const char *name;
	const char *kind;	/* p, r, or r<maxactive> */
	const char *place;	/* ending in +MID: the label inside kh_args() */
	const char *const *fields;
	unsigned int n_fields;
	bool enable;		/* false for a definition appended to an event built before */
};

static const char *const kh_event0_fields[] = {
	"a1=%r4:x64",
	"a2=%r5:s8",
	"a3=%r6:u16",
	"a4=%r7:s32",
};
static const char *const kh_event1_fields[] = {
	"a1=$arg1:x64",
	"a2=$arg2:x64",
	"a3=$arg3:x64",
	"a4=$arg4:x64",
	"a5=$arg5:x64",
	"a6=$arg6:x64",
	"a7=$arg7:x64",
	"a8=$arg8:x64",
};
static const char *const kh_event2_fields[] = {
	"a9=$stack0:x64",
	"a10=$stack1:x64",
};
static const char *const kh_event3_fields[] = {
	"a9=+0($stack):x64",
};
static const char *const kh_event4_fields[] = {
	"comm=$comm",
};
static const char *const kh_event5_fields[] = {
	"ret=$retval:x64",
};
static const char *const kh_event6_fields[] = {
	"ret=$retval:x64",
	"a1=$arg1:x64",
	"a2=$arg2:x64",
};
static const char *const kh_event7_fields[] = {
	"ret=$retval:x64",
};
static const char *const kh_event8_fields[] = {
	"comm=$comm",
};
static const char *const kh_event9_fields[] = {
	"g=@0x%lx:x64",
};
static const char *const kh_event10_fields[] = {
	"g1=@kh_globals+8:x64",
	"g3=@kh_globals+24:u64",
};
static const char *const kh_event11_fields[] = {
	"n=\\-123456:s32",
	"h=\\0x7f:x8",
};
static const char *const kh_event12_fields[] = {
	"s=\\\"kh_immediate\":string",
};
static const char *const kh_event13_fields[] = {
	"inner=+0(+56(%r4)):x64",
	"next=+0(+8(+56(%r4))):x64",
	"back=-28(+64(%r4)):u32",
};
static const char *const kh_event14_fields[] = {
	"u=+u0(+72(%r4)):x64",
};
static const char *const kh_event15_fields[] = {
	"s8_s=+0(%r4):s8",
	"u8_s=+0(%r4):u8",
	"x8_s=+0(%r4):x8",
	"s8_u=+1(%r4):s8",
	"u8_u=+1(%r4):u8",
	"x8_u=+1(%r4):x8",
	"s16_s=+2(%r4):s16",
	"u16_s=+2(%r4):u16",
	"x16_s=+2(%r4):x16",
	"s16_u=+4(%r4):s16",
	"u16_u=+4(%r4):u16",
	"x16_u=+4(%r4):x16",
	"s32_s=+8(%r4):s32",
	"u32_s=+8(%r4):u32",
	"x32_s=+8(%r4):x32",
	"s32_u=+12(%r4):s32",
	"u32_u=+12(%r4):u32",
	"x32_u=+12(%r4):x32",
	"s64_s=+16(%r4):s64",
	"u64_s=+16(%r4):u64",
	"x64_s=+16(%r4):x64",
	"s64_u=+24(%r4):s64",
	"u64_u=+24(%r4):u64",
	"x64_u=+24(%r4):x64",
};
static const char *const kh_event16_fields[] = {
	"c=+32(%r4):char",
};
static const char *const kh_event17_fields[] = {
	"b1_0=+36(%r4):b1@0/32",
	"b4_3=+36(%r4):b4@3/32",
	"b8_24=+36(%r4):b8@24/32",
	"b5_27=+36(%r4):b5@27/32",
};
static const char *const kh_event18_fields[] = {
	"arr=+40(%r4):u32[4]",
	"hex=+40(%r4):x32[2]",
};
static const char *const kh_event19_fields[] = {
	"k0=+0(+88(%r4)):string",
	"k1=+0(+96(%r4)):string",
	"k50=+0(+104(%r4)):string",
};
static const char *const kh_event20_fields[] = {
	"k255=+0(+112(%r4)):string",
	"k1000=+0(+120(%r4)):string",
};
static const char *const kh_event21_fields[] = {
	"page=+0(+128(%r4)):string",
};
static const char *const kh_event22_fields[] = {
	"u0=+0(+144(%r4)):ustring",
};
static const char *const kh_event23_fields[] = {
	"u1=+0(+152(%r4)):ustring",
	"u50=+0(+160(%r4)):ustring",
	"u255=+0(+168(%r4)):ustring",
	"u1000=+0(+176(%r4)):ustring",
	"page=+0(+184(%r4)):ustring",
};
static const char *const kh_event24_fields[] = {
	"limit=+0(+136(%r4)):string",
};
static const char *const kh_event25_fields[] = {
	"limit=+0(+192(%r4)):ustring",
};
static const char *const kh_event26_fields[] = {
	"fn=+80(%r4):symbol",
};
static const char *const kh_event27_fields[] = {
	"fn=+80(%r4):symstr",
};
static const char *const kh_event28_fields[] = {
	"file=%r5:%pD",
	"dentry=%r6:%pd",
};
static const char *const kh_event29_fields[] = {
	"v=%r4:x32",
};
static const char *const kh_event30_fields[] = {
	"v=+12(%r4):x32",
};

static const struct kh_def kh_events[] = {
	{ "kh_reg", "p", "kh_args", kh_event0_fields,
	  4, true },
	{ "kh_argn", "p", "kh_args", kh_event1_fields,
	  8, true },
	{ "kh_stack_args", "p", "kh_args", kh_event2_fields,
	  2, true },
	{ "kh_stack", "p", "kh_args", kh_event3_fields,
	  1, true },
	{ "kh_comm", "p", "kh_args", kh_event4_fields,
	  1, true },
	{ "kh_ret", "r", "kh_args", kh_event5_fields,
	  1, true },
	{ "kh_ret_args", "r", "kh_args", kh_event6_fields,
	  3, true },
	{ "kh_ret_max", "r4", "kh_args", kh_event7_fields,
	  1, true },
	{ "kh_offset", "p", "kh_args+MID", kh_event8_fields,
	  1, true },
	{ "kh_addr", "p", "kh_args", kh_event9_fields,
	  1, true },
	{ "kh_sym", "p", "kh_args", kh_event10_fields,
	  2, true },
	{ "kh_imm", "p", "kh_args", kh_event11_fields,
	  2, true },
	{ "kh_imm_str", "p", "kh_args", kh_event12_fields,
	  1, true },
	{ "kh_deref", "p", "kh_data", kh_event13_fields,
	  3, true },
	{ "kh_uderef", "p", "kh_data", kh_event14_fields,
	  1, true },
	{ "kh_ints", "p", "kh_data", kh_event15_fields,
	  24, true },
	{ "kh_char", "p", "kh_data", kh_event16_fields,
	  1, true },
	{ "kh_bits", "p", "kh_data", kh_event17_fields,
	  4, true },
	{ "kh_array", "p", "kh_data", kh_event18_fields,
	  2, true },
	{ "kh_kstr", "p", "kh_data", kh_event19_fields,
	  3, true },
	{ "kh_kstr_long", "p", "kh_data", kh_event20_fields,
	  2, true },
	{ "kh_kstr_page", "p", "kh_data", kh_event21_fields,
	  1, true },
	{ "kh_ustr_empty", "p", "kh_data", kh_event22_fields,
	  1, true },
	{ "kh_ustr", "p", "kh_data", kh_event23_fields,
	  5, true },
	{ "kh_kstr_limit", "p", "kh_data", kh_event24_fields,
	  1, true },
	{ "kh_ustr_limit", "p", "kh_data", kh_event25_fields,
	  1, true },
	{ "kh_symbol", "p", "kh_data", kh_event26_fields,
	  1, true },
	{ "kh_symstr", "p", "kh_data", kh_event27_fields,
	  1, true },
	{ "kh_dentry", "p", "kh_data", kh_event28_fields,
	  2, true },
	{ "kh_multi", "p", "kh_args", kh_event29_fields,
	  1, true },
	{ "kh_multi", "p", "kh_data", kh_event30_fields,
	  1, false },
};

static const char *const kh_refusal0_fields[] = {
	"x=%kh_no_reg",
	NULL
};
static const char *const kh_refusal1_fields[] = {
	"x=%r4:u7",
	NULL
};
static const char *const kh_refusal2_fields[] = {
	"x=+0(%r4):b40@2/32",
	NULL
};
static const char *const kh_refusal3_fields[] = {
	"x=+0(%r4):u8[65]",
	NULL
};
static const char *const kh_refusal4_fields[] = {
	"f0=%r4:u8",
	"f1=%r4:u8",
	"f2=%r4:u8",
	"f3=%r4:u8",
	"f4=%r4:u8",
	"f5=%r4:u8",
	"f6=%r4:u8",
	"f7=%r4:u8",
	"f8=%r4:u8",
	"f9=%r4:u8",
	"f10=%r4:u8",
	"f11=%r4:u8",
	"f12=%r4:u8",
	"f13=%r4:u8",
	"f14=%r4:u8",
	"f15=%r4:u8",
	"f16=%r4:u8",
	"f17=%r4:u8",
	"f18=%r4:u8",
	"f19=%r4:u8",
	"f20=%r4:u8",
	"f21=%r4:u8",
	"f22=%r4:u8",
	"f23=%r4:u8",
	"f24=%r4:u8",
	"f25=%r4:u8",
	"f26=%r4:u8",
	"f27=%r4:u8",
	"f28=%r4:u8",
	"f29=%r4:u8",
	"f30=%r4:u8",
	"f31=%r4:u8",
	"f32=%r4:u8",
	"f33=%r4:u8",
	"f34=%r4:u8",
	"f35=%r4:u8",
	"f36=%r4:u8",
	"f37=%r4:u8",
	"f38=%r4:u8",
	"f39=%r4:u8",
	"f40=%r4:u8",
	"f41=%r4:u8",
	"f42=%r4:u8",
	"f43=%r4:u8",
	"f44=%r4:u8",
	"f45=%r4:u8",
	"f46=%r4:u8",
	"f47=%r4:u8",
	"f48=%r4:u8",
	"f49=%r4:u8",
	"f50=%r4:u8",
	"f51=%r4:u8",
	"f52=%r4:u8",
	"f53=%r4:u8",
	"f54=%r4:u8",
	"f55=%r4:u8",
	"f56=%r4:u8",
	"f57=%r4:u8",
	"f58=%r4:u8",
	"f59=%r4:u8",
	"f60=%r4:u8",
	"f61=%r4:u8",
	"f62=%r4:u8",
	"f63=%r4:u8",
	"f64=%r4:u8",
	"f65=%r4:u8",
	"f66=%r4:u8",
	"f67=%r4:u8",
	"f68=%r4:u8",
	"f69=%r4:u8",
	"f70=%r4:u8",
	"f71=%r4:u8",
	"f72=%r4:u8",
	"f73=%r4:u8",
	"f74=%r4:u8",
	"f75=%r4:u8",
	"f76=%r4:u8",
	"f77=%r4:u8",
	"f78=%r4:u8",
	"f79=%r4:u8",
	"f80=%r4:u8",
	"f81=%r4:u8",
	"f82=%r4:u8",
	"f83=%r4:u8",
	"f84=%r4:u8",
	"f85=%r4:u8",
	"f86=%r4:u8",
	"f87=%r4:u8",
	"f88=%r4:u8",
	"f89=%r4:u8",
	"f90=%r4:u8",
	"f91=%r4:u8",
	"f92=%r4:u8",
	"f93=%r4:u8",
	"f94=%r4:u8",
	"f95=%r4:u8",
	"f96=%r4:u8",
	"f97=%r4:u8",
	"f98=%r4:u8",
	"f99=%r4:u8",
	"f100=%r4:u8",
	"f101=%r4:u8",
	"f102=%r4:u8",
	"f103=%r4:u8",
	"f104=%r4:u8",
	"f105=%r4:u8",
	"f106=%r4:u8",
	"f107=%r4:u8",
	"f108=%r4:u8",
	"f109=%r4:u8",
	"f110=%r4:u8",
	"f111=%r4:u8",
	"f112=%r4:u8",
	"f113=%r4:u8",
	"f114=%r4:u8",
	"f115=%r4:u8",
	"f116=%r4:u8",
	"f117=%r4:u8",
	"f118=%r4:u8",
	"f119=%r4:u8",
	"f120=%r4:u8",
	"f121=%r4:u8",
	"f122=%r4:u8",
	"f123=%r4:u8",
	"f124=%r4:u8",
	"f125=%r4:u8",
	"f126=%r4:u8",
	"f127=%r4:u8",
	"f128=%r4:u8",
	NULL
};
static const char *const kh_refusal5_fields[] = {
	"x=%r4",
	NULL
};
static const char *const kh_refusal6_fields[] = {
	"a1=%r4:u8",
	"a2=%r5:s8",
	"a3=%r6:u16",
	"a4=%r7:s32",
	NULL
};
static const char *const kh_refusal7_fields[] = {
	"x=%r4",
	NULL
};
static const char *const kh_refusal8_fields[] = {
	"x=%r4",
	NULL
};
static const char *const kh_refusal9_fields[] = {
	NULL
};

static const struct { const char *name; struct kh_def def; } kh_refusals[] = {
	{ "unknown_register", { "kh_bad_reg", "p", "kh_args",
	  kh_refusal0_fields, 1, false } },
	{ "unknown_type", { "kh_bad_type", "p", "kh_args",
	  kh_refusal1_fields, 1, false } },
	{ "bad_bitfield", { "kh_bad_bits", "p", "kh_args",
	  kh_refusal2_fields, 1, false } },
	{ "array_too_big", { "kh_bad_array", "p", "kh_args",
	  kh_refusal3_fields, 1, false } },
	{ "too_many_args", { "kh_bad_many", "p", "kh_args",
	  kh_refusal4_fields, 129, false } },
	{ "bad_event_name", { "1kh_bad_name", "p", "kh_args",
	  kh_refusal5_fields, 1, false } },
	{ "duplicate_event", { "kh_reg", "p", "kh_args",
	  kh_refusal6_fields, 4, false } },
	{ "missing_symbol", { "kh_bad_symbol", "p", "kh_no_such_function",
	  kh_refusal7_fields, 1, false } },
	{ "blacklisted", { "kh_bad_blacklisted", "p", "kprobe_dispatcher",
	  kh_refusal8_fields, 1, false } },
	{ "kretprobe_offset", { "kh_bad_retoffset", "r", "kh_args+MID",
	  kh_refusal9_fields, 0, false } },
};

static struct trace_event_file *kh_files[ARRAY_SIZE(kh_events)];
static bool kh_created[ARRAY_SIZE(kh_events)];
static bool kh_accepted[ARRAY_SIZE(kh_refusals)];
static bool kh_built;
static char kh_mid_place[KSYM_SYMBOL_LEN];
static char kh_cmd_buf[MAX_DYNEVENT_CMD_LEN];
static char kh_status_buf[8192];
static struct seq_buf kh_status;
static struct dentry *kh_dir;
static DEFINE_MUTEX(kh_lock);

/* the label's place as the kernel names it: "kh_args+0x<offset>" */
static void kh_find_mid(void)
{
	char *end;

	sprint_symbol(kh_mid_place, kh_args_mid);
	end = strchr(kh_mid_place, '/');
	if (end)
		*end = '\0';
	seq_buf_printf(&kh_status, "mid %s\n", kh_mid_place);
}

static const char *kh_place(const char *place)
{
	size_t len = strlen(place), mid = strlen("+MID");

	return len >= mid && !strcmp(place + len - mid, "+MID") ? kh_mid_place : place;
}

/* one field, with the address of kh_globals written in where it asks for one */
static const char *kh_field(const char *field, char *buf, size_t len)
{
	if (!strstr(field, "%lx"))
		return field;
	snprintf(buf, len, field, (unsigned long)kh_globals);
	return buf;
}

/* Build one definition; *stage says how far it got: start, add, end (the gen API) or builder. */
static int kh_build(const struct kh_def *def, const char **stage)
{
	bool ret_probe = def->kind[0] == 'r';
	const char *place = kh_place(def->place);
	struct dynevent_cmd cmd;
	char field[128];
	unsigned int i;
	int ret;

	kprobe_event_cmd_init(&cmd, kh_cmd_buf, MAX_DYNEVENT_CMD_LEN);
	if (strcmp(def->kind, "p") && strcmp(def->kind, "r")) {
		/* r<maxactive> has no gen call: write the command with the dynevent_cmd builder */
		*stage = "builder";
		seq_buf_printf(&cmd.seq, "%s:kprobes/%s %s", def->kind, def->name, place);
		for (i = 0; i < def->n_fields; i++)
			seq_buf_printf(&cmd.seq, " %s", kh_field(def->fields[i], field, sizeof(field)));
		if (seq_buf_has_overflowed(&cmd.seq))
			return -E2BIG;
		return dynevent_create(&cmd);
	}
	*stage = "start";
	if (ret_probe)
		ret = kretprobe_event_gen_cmd_start(&cmd, def->name, place);
	else
		ret = kprobe_event_gen_cmd_start(&cmd, def->name, place);
	*stage = "add";
	for (i = 0; !ret && i < def->n_fields; i++)
		ret = kprobe_event_add_field(&cmd, kh_field(def->fields[i], field, sizeof(field)));
	if (ret)
		return ret;
	*stage = "end";
	return ret_probe ? kretprobe_event_gen_cmd_end(&cmd) : kprobe_event_gen_cmd_end(&cmd);
}

static int kh_enable(unsigned int i)
{
	struct trace_event_file *file;
	int ret;

	file = trace_get_event_file(NULL, "kprobes", kh_events[i].name);
	if (IS_ERR(file))
		return PTR_ERR(file);
	ret = trace_array_set_clr_event(file->tr, "kprobes", kh_events[i].name, true);
	if (ret) {
		trace_put_event_file(file);
		return ret;
	}
	kh_files[i] = file;
	return 0;
}

static void kh_build_all(void)
{
	const char *stage;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(kh_events); i++) {
		stage = "";
		ret = kh_build(&kh_events[i], &stage);
		kh_created[i] = !ret;
		if (!ret && kh_events[i].enable) {
			stage = "enable";
			ret = kh_enable(i);
		}
		seq_buf_printf(&kh_status, "event %s %s %s %d\n", kh_events[i].name, kh_place(kh_events[i].place),
			       stage, ret);
	}
}

static void kh_refuse(const char *name)
{
	const char *stage = "";
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(kh_refusals); i++) {
		if (strcmp(kh_refusals[i].name, name))
			continue;
		ret = kh_build(&kh_refusals[i].def, &stage);
		kh_accepted[i] = !ret;
		seq_buf_printf(&kh_status, "refusal %s %s %d\n", name, stage, ret);
		return;
	}
	seq_buf_printf(&kh_status, "refusal %s unknown -22\n", name);
}

/* Fill kh_data's strings: the kernel ones from this module, the user ones copied into pages
 * mapped in the calling process; one of each starts KH_PAGE_BEFORE bytes before a page boundary. */
static int kh_strings(struct kh_data *d, char *kpage, unsigned long user)
{
	unsigned long at = 0;
	unsigned int i;

	for (i = 0; i < KH_STRINGS; i++) {
		size_t len = strlen(kh_ustrings[i]) + 1;

		d->kstr[i] = kh_kstrings[i];
		d->ustr[i] = (const char __user *)(user + at);
		if (copy_to_user((void __user *)(user + at), kh_ustrings[i], len))
			return -EFAULT;
		at += len;
	}
	BUILD_BUG_ON(sizeof(kh_kpage_string) > 2 * KH_PAGE_BEFORE + 1);
	if (at > KH_UVAL_AT || copy_to_user((void __user *)(user + PAGE_SIZE - KH_PAGE_BEFORE), kh_upage_string,
					    sizeof(kh_upage_string)))
		return -EFAULT;
	memcpy(kpage + PAGE_SIZE - KH_PAGE_BEFORE, kh_kpage_string, sizeof(kh_kpage_string));
	d->kstr[KH_STRINGS] = kpage + PAGE_SIZE - KH_PAGE_BEFORE;
	d->ustr[KH_STRINGS] = (const char __user *)(user + PAGE_SIZE - KH_PAGE_BEFORE);
	BUILD_BUG_ON(sizeof(kh_ulimit_string) > (KH_USER_PAGES - 2) * PAGE_SIZE);
	if (copy_to_user((void __user *)(user + 2 * PAGE_SIZE), kh_ulimit_string, sizeof(kh_ulimit_string)))
		return -EFAULT;
	d->kstr[KH_STRINGS + 1] = kh_klimit_string;
	d->ustr[KH_STRINGS + 1] = (const char __user *)(user + 2 * PAGE_SIZE);
	d->uval = (u64 __user *)(user + KH_UVAL_AT);
	return 0;
}

/* Call kh_args() with one set of values, hidden from the compiler so that it keeps
 * the calling convention and makes no copy of the function specialised for them. */
static void kh_call_args(unsigned int call)
{
	unsigned long a[10];
	unsigned int i;

	for (i = 0; i < 10; i++) {
		a[i] = kh_arg_values[call][i];
		OPTIMIZER_HIDE_VAR(a[i]);
	}
	WRITE_ONCE(kh_ret_value, kh_ret_values[call]);
	kh_args(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
}

static int kh_call_data(unsigned int call, struct kh_data *d, struct file *file)
{
	const struct kh_values *v = &kh_values[call];

	d->s8v = v->s8v;
	d->u8v = v->u8v;
	d->s16v = v->s16v;
	d->u16v = v->u16v;
	d->s32v = v->s32v;
	d->u32v = v->u32v;
	d->s64v = v->s64v;
	d->u64v = v->u64v;
	d->c = v->c;
	d->bits = v->bits;
	memcpy(d->arr, v->arr, sizeof(d->arr));
	d->tail = d->arr;
	d->fn = (void *)kh_args;
	d->inner->value = v->inner;
	d->inner->next->value = v->next;
	if (put_user(v->uval, d->uval))
		return -EFAULT;
	kh_data(d, file, file->f_path.dentry);
	return 0;
}

static ssize_t kh_call_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct kh_inner *inner = kzalloc(2 * sizeof(*inner), GFP_KERNEL);
	struct kh_data *d = kzalloc(sizeof(*d), GFP_KERNEL);
	char *kpage = (char *)__get_free_pages(GFP_KERNEL | __GFP_ZERO, 1);
	unsigned long user = vm_mmap(NULL, 0, KH_USER_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
				     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	unsigned int call;
	int ret = -ENOMEM;

	if (!inner || !d || !kpage || IS_ERR_VALUE(user))
		goto out;
	d->inner = inner;
	inner->next = inner + 1;
	ret = kh_strings(d, kpage, user);
	for (call = 0; !ret && call < KH_CALLS; call++) {
		kh_call_args(call);
		ret = kh_call_data(call, d, file);
	}
out:
	if (!IS_ERR_VALUE(user))
		vm_munmap(user, KH_USER_PAGES * PAGE_SIZE);
	free_pages((unsigned long)kpage, 1);
	kfree(d);
	kfree(inner);
	return ret ? ret : len;
}

static ssize_t kh_create_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	mutex_lock(&kh_lock);
	if (!kh_built)
		kh_build_all();
	kh_built = true;
	mutex_unlock(&kh_lock);
	return len;
}

static ssize_t kh_refuse_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char name[64];

	if (!len || len >= sizeof(name) || copy_from_user(name, ubuf, len))
		return -EINVAL;
	name[len] = '\0';
	name[strcspn(name, "\n")] = '\0';
	mutex_lock(&kh_lock);
	kh_refuse(name);
	mutex_unlock(&kh_lock);
	return len;
}

static ssize_t kh_status_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&kh_lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, kh_status_buf, seq_buf_used(&kh_status));
	mutex_unlock(&kh_lock);
	return ret;
}

static const struct file_operations kh_call_fops = { .owner = THIS_MODULE, .write = kh_call_write };
static const struct file_operations kh_create_fops = { .owner = THIS_MODULE, .write = kh_create_write };
static const struct file_operations kh_refuse_fops = { .owner = THIS_MODULE, .write = kh_refuse_write };
static const struct file_operations kh_status_fops = { .owner = THIS_MODULE, .read = kh_status_read };

static void kh_grammar_init(void)
{
	BUILD_BUG_ON(offsetof(struct kh_data, s8v) != 0);
	BUILD_BUG_ON(offsetof(struct kh_data, u8v) != 1);
	BUILD_BUG_ON(offsetof(struct kh_data, s16v) != 2);
	BUILD_BUG_ON(offsetof(struct kh_data, u16v) != 4);
	BUILD_BUG_ON(offsetof(struct kh_data, s32v) != 8);
	BUILD_BUG_ON(offsetof(struct kh_data, u32v) != 12);
	BUILD_BUG_ON(offsetof(struct kh_data, s64v) != 16);
	BUILD_BUG_ON(offsetof(struct kh_data, u64v) != 24);
	BUILD_BUG_ON(offsetof(struct kh_data, c) != 32);
	BUILD_BUG_ON(offsetof(struct kh_data, bits) != 36);
	BUILD_BUG_ON(offsetof(struct kh_data, arr) != 40);
	BUILD_BUG_ON(offsetof(struct kh_data, inner) != 56);
	BUILD_BUG_ON(offsetof(struct kh_data, tail) != 64);
	BUILD_BUG_ON(offsetof(struct kh_data, uval) != 72);
	BUILD_BUG_ON(offsetof(struct kh_data, fn) != 80);
	BUILD_BUG_ON(offsetof(struct kh_data, kstr) != 88);
	BUILD_BUG_ON(offsetof(struct kh_data, ustr) != 144);
	BUILD_BUG_ON(offsetof(struct kh_inner, value) != 0);
	BUILD_BUG_ON(offsetof(struct kh_inner, next) != 8);
	seq_buf_init(&kh_status, kh_status_buf, sizeof(kh_status_buf));
	kh_find_mid();
	kh_dir = debugfs_create_dir("kh_grammar", NULL);
	debugfs_create_file("create", 0200, kh_dir, NULL, &kh_create_fops);
	debugfs_create_file("refuse", 0200, kh_dir, NULL, &kh_refuse_fops);
	debugfs_create_file("call", 0200, kh_dir, NULL, &kh_call_fops);
	debugfs_create_file("status", 0400, kh_dir, NULL, &kh_status_fops);
}

static void kh_grammar_exit(void)
{
	unsigned int i, j;

	debugfs_remove_recursive(kh_dir);
	for (i = 0; i < ARRAY_SIZE(kh_events); i++) {
		if (!kh_files[i])
			continue;
		WARN_ON(trace_array_set_clr_event(kh_files[i]->tr, "kprobes", kh_events[i].name, false));
		trace_put_event_file(kh_files[i]);
	}
	/* every event once, however many definitions it has */
	for (i = 0; i < ARRAY_SIZE(kh_events); i++) {
		for (j = 0; j < i && strcmp(kh_events[j].name, kh_events[i].name); j++)
			;
		if (j == i && kh_created[i])
			WARN_ON(kprobe_event_delete(kh_events[i].name));
	}
	/* a refusal the kernel accepted made an event: take it away (the check has seen it) */
	for (i = 0; i < ARRAY_SIZE(kh_refusals); i++)
		if (kh_accepted[i])
			kprobe_event_delete(kh_refusals[i].def.name);
}

static int __init kh_module_init(void)
{
	int ret = kprobe_event_gen_test_init();

	if (!ret)
		kh_grammar_init();
	return ret;
}

static void __exit kh_module_exit(void)
{
	kh_grammar_exit();
	kprobe_event_gen_test_exit();
}

module_init(kh_module_init)
module_exit(kh_module_exit)

MODULE_DESCRIPTION("kprobe-harness: kprobe and kretprobe events created and removed from kernel code");
MODULE_LICENSE("GPL v2");

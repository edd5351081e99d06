// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe-harness build of the kernel's dynamic-event test module
 * (kernel/trace/kprobe_event_gen_test.c), for riscv64 with the
 * "upstream" probe profile.
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

#define KPROBE_GEN_TEST_ARG0	"dfd=%a0"
#define KPROBE_GEN_TEST_ARG1	"filename=%a1"
#define KPROBE_GEN_TEST_ARG2	"flags=%a2"
#define KPROBE_GEN_TEST_ARG3	"mode=%a3"
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

module_init(kprobe_event_gen_test_init)
module_exit(kprobe_event_gen_test_exit)

MODULE_DESCRIPTION("kprobe-harness: kprobe and kretprobe events created and removed from kernel code");
MODULE_LICENSE("GPL v2");

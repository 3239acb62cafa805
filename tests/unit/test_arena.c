/* test_arena.c: unit tests for hookbus/arena.h (lib/arena.c), with cJSON's
 * hooks installed as the gateway installs them. Leaks and wrong frees are
 * the failures that matter here, so the suite is meant for `make asan` too:
 * a block freed to the wrong allocator or a chunk never released is an ASan
 * or LeakSanitizer report there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hookbus/arena.h"
#include "hookbus/format.h"
#include "hookbus/util.h"

/* A push-like document of about n bytes (many small nodes). */
static char *document(size_t n)
{
    struct hb_buf b;
    hb_buf_init(&b, n + 4096);
    hb_buf_puts(&b, "{\"ref\":\"refs/heads/main\",\"commits\":[");
    for (int i = 0; b.len < n; i++)
        hb_buf_printf(&b, "%s{\"id\":\"%040x\",\"n\":%d,\"ok\":true,\"modified\":[\"a/%d.go\"]}",
                      i ? "," : "", i, i, i);
    hb_buf_puts(&b, "]}");
    return hb_buf_steal(&b);
}

static char *print_heap(const char *text)
{
    cJSON *v = hb_json_parse(text, strlen(text));
    assert_non_null(v);
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    assert_non_null(s);
    char *copy = strdup(s);
    cJSON_free(s);
    return copy;
}

static void test_small_blocks_come_from_the_arena(void **state)
{
    (void)state;
    char *doc = document(4096), *want = print_heap(doc);
    char mem[1024];
    struct hb_arena a = {0};
    assert_false(hb_arena_entered());
    hb_arena_enter(&a, mem, sizeof(mem));
    assert_true(hb_arena_entered());
    cJSON *v = hb_json_parse(doc, strlen(doc));
    assert_non_null(v);
    /* Every node and short string is the arena's: more than the stack
     * buffer, so chunks were added. */
    assert_true(a.used > sizeof(mem));
    char *got = cJSON_PrintUnformatted(v); /* > 1 KB: from the heap */
    cJSON_Delete(v);                       /* free of arena blocks: nothing */
    hb_arena_leave();
    assert_false(hb_arena_entered());
    /* The printed text outlives the arena and goes back to the heap. */
    assert_string_equal(got, want);
    cJSON_free(got);
    free(want);
    free(doc);
}

static void test_heap_trees_are_freed_inside_an_arena(void **state)
{
    (void)state;
    char *doc = document(2048);
    cJSON *outside = hb_json_parse(doc, strlen(doc));
    assert_non_null(outside);
    struct hb_arena a = {0};
    hb_arena_enter(&a, NULL, 0);
    cJSON *inside = cJSON_Duplicate(outside, 1);
    assert_true(cJSON_Compare(inside, outside, 1));
    cJSON_Delete(outside); /* heap nodes: really freed (LSan would see a leak) */
    cJSON_Delete(inside);
    hb_arena_leave();
    assert_int_equal(a.head == NULL, 1);
    free(doc);
}

static void test_large_documents_grow_chunks(void **state)
{
    (void)state;
    char *doc = document(300 * 1024), *want = print_heap(doc);
    struct hb_arena a = {0};
    hb_arena_enter(&a, NULL, 0);
    cJSON *v = hb_json_parse(doc, strlen(doc));
    assert_non_null(v);
    assert_true(a.used > 300 * 1024);
    cJSON *commits = cJSON_GetObjectItemCaseSensitive(v, "commits");
    int n = cJSON_GetArraySize(commits);
    assert_true(n > 1000);
    cJSON *last = cJSON_GetArrayItem(commits, n - 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(last, "n")->valueint, n - 1);
    char *got = cJSON_PrintUnformatted(v);
    assert_string_equal(got, want);
    cJSON_free(got);
    cJSON_Delete(v);
    hb_arena_leave();
    free(want);
    free(doc);
}

static void *other_thread(void *arg)
{
    /* No arena on this thread: its blocks are the heap's even while the
     * main thread is in one, and its frees are real. */
    const char *doc = arg;
    bool entered = hb_arena_entered();
    for (int i = 0; i < 50; i++) {
        cJSON *v = hb_json_parse(doc, strlen(doc));
        char *s = v ? cJSON_PrintUnformatted(v) : NULL;
        cJSON_Delete(v);
        if (!s)
            return (void *)1;
        cJSON_free(s);
    }
    return entered ? (void *)1 : NULL;
}

static void test_arenas_are_per_thread(void **state)
{
    (void)state;
    char *doc = document(4096);
    struct hb_arena a = {0};
    hb_arena_enter(&a, NULL, 0);
    cJSON *mine = hb_json_parse(doc, strlen(doc));
    pthread_t t;
    void *res = (void *)1;
    assert_int_equal(pthread_create(&t, NULL, other_thread, doc), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    assert_null(res);
    assert_non_null(mine);
    cJSON_Delete(mine);
    hb_arena_leave();
    free(doc);
}

static void test_enter_if_none_uses_the_entered_arena(void **state)
{
    (void)state;
    struct hb_arena outer = {0}, inner = {0};
    assert_true(hb_arena_enter_if_none(&outer, NULL, 0));
    assert_false(hb_arena_enter_if_none(&inner, NULL, 0));
    cJSON *v = cJSON_CreateString("served by the outer arena");
    assert_non_null(v);
    assert_true(outer.used > 0);
    assert_int_equal(inner.used, 0);
    cJSON_Delete(v);
    hb_arena_leave();
    assert_false(hb_arena_entered());
}

static void test_entering_twice_aborts(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct hb_arena a = {0}, b = {0};
        hb_arena_enter(&a, NULL, 0);
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        hb_arena_enter(&b, NULL, 0);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
    hb_json_arena_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_blocks_come_from_the_arena),
        cmocka_unit_test(test_heap_trees_are_freed_inside_an_arena),
        cmocka_unit_test(test_large_documents_grow_chunks),
        cmocka_unit_test(test_arenas_are_per_thread),
        cmocka_unit_test(test_enter_if_none_uses_the_entered_arena),
        cmocka_unit_test(test_entering_twice_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

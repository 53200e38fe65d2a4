/* The poll ABI: packing, status, sign-extended values, and a poll function
 * written the way the Vais compiler emits one. */
#include "helpers.h"

/* rows: poll_ready, poll_status, poll_is_ready */
Test(poll_abi, ready_packs_status_one_and_the_value)
{
    cr_assert_eq(vrt_poll_ready(5), (INT64_C(1) << 32) | 5);
    cr_assert_eq(vrt_poll_ready(-1), (INT64_C(1) << 32) | INT64_C(0xffffffff));
    cr_assert_eq(vrt_poll_status(vrt_poll_ready(123)), 1);
    cr_assert_eq(vrt_poll_is_ready(vrt_poll_ready(0)), 1);
}

/* rows: poll_pending, poll_status, poll_is_ready */
Test(poll_abi, pending_is_zero)
{
    cr_assert_eq(vrt_poll_pending(), 0);
    cr_assert_eq(vrt_poll_status(vrt_poll_pending()), 0);
    cr_assert_eq(vrt_poll_is_ready(vrt_poll_pending()), 0);
}

/* rows: poll_value, poll_ready */
Test(poll_abi, value_round_trips_signed_32_bit)
{
    const int32_t values[] = {0, 1, -1, 42, -42, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        cr_assert_eq(vrt_poll_value(vrt_poll_ready(values[i])), values[i],
                     "value %d", values[i]);
}

/* rows: poll_status, poll_is_ready, poll_value */
Test(poll_abi, status_reads_the_high_32_bits_unsigned)
{
    cr_assert_eq(vrt_poll_status((int64_t)((uint64_t)0xffffffff << 32)), 0xffffffff);
    cr_assert_eq(vrt_poll_status((int64_t)((uint64_t)2 << 32) | 1), 2);
    cr_assert_eq(vrt_poll_is_ready((int64_t)((uint64_t)2 << 32) | 1), 0);
    cr_assert_eq(vrt_poll_is_ready(INT64_MIN | (INT64_C(1) << 32)), 0);
    cr_assert_eq(vrt_poll_value(INT64_C(0x7fffffff)), INT32_MAX);
    cr_assert_eq(vrt_poll_value(INT64_C(0x80000000)), INT32_MIN);
}

/* What a compiled Vais poll function does: pack by hand, zero-extending the
 * value into the low word. */
static int64_t vais_compiled_poll(int64_t future_ptr)
{
    int64_t *state = (int64_t *)(intptr_t)future_ptr;
    if (state[0]-- > 0)
        return 0;
    return (int64_t)(((uint64_t)1 << 32) | ((uint64_t)state[1] & 0xffffffffu));
}

/* rows: Runtime::spawn, Runtime::run, Runtime::block_on */
Test(poll_abi, compiled_vais_poll_function_plugs_in_unchanged)
{
    vrt_runtime_t rt = vrt_runtime_new();
    int64_t state[2] = {2, -9};
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, (int64_t)(intptr_t)state, vais_compiled_poll);
    CHECK(&rt);
    run_ok(&rt);
    cr_assert_eq(vrt_join_handle_result(&h), -9);
    int64_t state2[2] = {0, 77};
    cr_assert_eq(vrt_runtime_block_on(&rt, (int64_t)(intptr_t)state2, vais_compiled_poll), 77);
    vrt_runtime_free(&rt);
}

/* rows: POLL_STATUS_READY, poll_status, poll_is_ready, poll_ready */
Test(poll_abi, status_ready_constant_is_what_ready_packs)
{
    const int32_t values[] = {0, 7, -7, INT32_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        cr_assert_eq(vrt_poll_status(vrt_poll_ready(values[i])), VRT_POLL_STATUS_READY);
    /* A word packed by hand with that status is Ready, with its value. */
    int64_t packed = (int64_t)(((uint64_t)VRT_POLL_STATUS_READY << 32) | 9u);
    cr_assert_eq(vrt_poll_is_ready(packed), 1);
    cr_assert_eq(vrt_poll_value(packed), 9);
    /* Any other status is Pending, whatever the value half holds. */
    const int64_t other[] = {0, VRT_POLL_STATUS_READY + 1, INT64_C(0xffffffff)};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        cr_assert_eq(vrt_poll_is_ready((int64_t)(((uint64_t)other[i] << 32) | 9u)), 0,
                     "status %lld read as Ready", (long long)other[i]);
}

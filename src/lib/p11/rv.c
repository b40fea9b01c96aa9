/* PKCS#11 return values by name, with what an operator can do about them. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <string.h>

static const struct {
	CK_RV rv;
	const char *name;
} names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_CANCEL, "CKR_CANCEL" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_NO_EVENT, "CKR_NO_EVENT" },
	{ CKR_NEED_TO_CREATE_THREADS, "CKR_NEED_TO_CREATE_THREADS" },
	{ CKR_CANT_LOCK, "CKR_CANT_LOCK" },
	{ CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED" },
	{ CKR_DATA_INVALID, "CKR_DATA_INVALID" },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED" },
	{ CKR_FUNCTION_NOT_PARALLEL, "CKR_FUNCTION_NOT_PARALLEL" },
	{ CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_NOT_NEEDED, "CKR_KEY_NOT_NEEDED" },
	{ CKR_KEY_CHANGED, "CKR_KEY_CHANGED" },
	{ CKR_KEY_NEEDED, "CKR_KEY_NEEDED" },
	{ CKR_KEY_INDIGESTIBLE, "CKR_KEY_INDIGESTIBLE" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE" },
	{ CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKR_SESSION_PARALLEL_NOT_SUPPORTED" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS" },
	{ CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS" },
	{ CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS" },
	{ CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID" },
	{ CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_UNWRAPPING_KEY_SIZE_RANGE, "CKR_UNWRAPPING_KEY_SIZE_RANGE" },
	{ CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID" },
	{ CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN" },
	{ CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES" },
	{ CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID" },
	{ CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE" },
	{ CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE" },
	{ CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT" },
	{ CKR_RANDOM_SEED_NOT_SUPPORTED, "CKR_RANDOM_SEED_NOT_SUPPORTED" },
	{ CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG" },
	{ CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID" },
	{ CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_SAVED_STATE_INVALID, "CKR_SAVED_STATE_INVALID" },
	{ CKR_INFORMATION_SENSITIVE, "CKR_INFORMATION_SENSITIVE" },
	{ CKR_STATE_UNSAVEABLE, "CKR_STATE_UNSAVEABLE" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
	{ CKR_MUTEX_BAD, "CKR_MUTEX_BAD" },
	{ CKR_MUTEX_NOT_LOCKED, "CKR_MUTEX_NOT_LOCKED" },
	{ CKR_NEW_PIN_MODE, "CKR_NEW_PIN_MODE" },
	{ CKR_NEXT_OTP, "CKR_NEXT_OTP" },
	{ CKR_EXCEEDED_MAX_ITERATIONS, "CKR_EXCEEDED_MAX_ITERATIONS" },
	{ CKR_FIPS_SELF_TEST_FAILED, "CKR_FIPS_SELF_TEST_FAILED" },
	{ CKR_LIBRARY_LOAD_FAILED, "CKR_LIBRARY_LOAD_FAILED" },
	{ CKR_PIN_TOO_WEAK, "CKR_PIN_TOO_WEAK" },
	{ CKR_PUBLIC_KEY_INVALID, "CKR_PUBLIC_KEY_INVALID" },
	{ CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED" },
};

static const struct {
	CK_RV rv;
	const char *advice;
} advice[] = {
	{ CKR_PIN_INCORRECT, "the PIN is wrong; check the PIN source (each "
	    "wrong try brings the token closer to locking its PIN)" },
	{ CKR_PIN_LOCKED, "the user PIN is locked; unblock it with the SO PIN "
	    "(for a SmartCard-HSM: sc-hsm-tool --unlock-pin or pkcs11-tool "
	    "--login --login-type so --init-pin)" },
	{ CKR_PIN_EXPIRED, "the PIN has expired; change it with the token's "
	    "tools (pkcs11-tool --change-pin)" },
	{ CKR_PIN_LEN_RANGE, "the PIN is too short or too long for this token" },
	{ CKR_PIN_INVALID, "the PIN has characters the token does not accept" },
	{ CKR_TOKEN_NOT_PRESENT, "no token in the slot; insert or reconnect the "
	    "HSM (for USB tokens check lsusb and pcscd)" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "the module does not recognise the token; "
	    "check that the right module is used" },
	{ CKR_DEVICE_REMOVED, "the token was removed during the operation; "
	    "reconnect it and run the command again" },
	{ CKR_DEVICE_ERROR, "the token reported a device error; reconnect it "
	    "and check its logs (pcscd, OpenSC debug)" },
	{ CKR_SESSION_COUNT, "the token allows no more sessions: another "
	    "program (fedsignd, pkcs11-tool, a browser) holds it; stop that "
	    "program" },
	{ CKR_USER_NOT_LOGGED_IN, "the operation needs a login" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "the token has no user PIN yet; set it "
	    "with 'fedsign token init' or the token's tools" },
	{ CKR_TOKEN_WRITE_PROTECTED, "the token is write-protected" },
	{ CKR_KEY_SIZE_RANGE, "the token cannot make or use a key of this size" },
	{ CKR_MECHANISM_INVALID, "the token does not support this mechanism" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes do not allow "
	    "this use (CKA_SIGN false?)" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "the module was initialised twice in "
	    "one process" },
	{ CKR_SLOT_ID_INVALID, "the slot is gone; list slots with 'fedsign "
	    "token list'" },
	{ CKR_SESSION_HANDLE_INVALID, "the session was closed (token removed?)" },
};

void
fs_p11_rv_name(CK_RV rv, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].rv == rv) {
			snprintf(buf, len, "%s", names[i].name);
			return;
		}
	}
	snprintf(buf, len, "CKR_0x%08lX", (unsigned long)rv);
}

int
fs_p11_err(fs_err *err, CK_RV rv, const char *call)
{
	const char *adv = NULL;
	char name[48];

	if (err == NULL)
		return FS_ETOKEN;
	for (size_t i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		if (advice[i].rv == rv)
			adv = advice[i].advice;
	fs_p11_rv_name(rv, name, sizeof(name));
	if (adv != NULL)
		fs_err_set(err, FS_ETOKEN, "%s failed: %s: %s", call, name, adv);
	else
		fs_err_set(err, FS_ETOKEN, "%s failed: %s", call, name);
	err->rv = rv;
	snprintf(err->call, sizeof(err->call), "%s", call);
	return FS_ETOKEN;
}

int
fs_p11_rv_broken(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_GENERAL_ERROR:
		return 1;
	default:
		return 0;
	}
}

void
fs_p11_pin_state(CK_FLAGS flags, char *buf, size_t len)
{
	static const struct {
		CK_FLAGS flag;
		const char *word;
	} words[] = {
		{ CKF_USER_PIN_LOCKED, "user PIN locked" },
		{ CKF_USER_PIN_FINAL_TRY, "user PIN final try" },
		{ CKF_USER_PIN_COUNT_LOW, "user PIN count low" },
		{ CKF_USER_PIN_TO_BE_CHANGED, "user PIN to be changed" },
		{ CKF_SO_PIN_LOCKED, "SO PIN locked" },
		{ CKF_SO_PIN_FINAL_TRY, "SO PIN final try" },
		{ CKF_SO_PIN_COUNT_LOW, "SO PIN count low" },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if ((flags & words[i].flag) == 0)
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    n > 0 ? ", " : "", words[i].word);
	}
}

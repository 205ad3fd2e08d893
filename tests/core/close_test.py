"""A client that ends with close_notify: its last data and its
close_notify may arrive in one read; the server echoes the data, answers
with its own close_notify, and closes at once (the peer has finished
sending, there is nothing to linger for) - a clean FIN, never a reset, and
the session is logged as client_close while the client still holds its
socket open. (A close the server starts keeps lingering for the peer's FIN:
shutdown_test.)"""

import threading
import unittest

from tests.lib import echod
from tests.lib.memclient import MemClient

LINGER_MS = 2000  # internal/loop ED_LINGER_MS


class CloseTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server()
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def last_words(self, payload, check_prompt=True):
        c = MemClient(self.srv.port, self.ctx)
        try:
            lport = echod.local_port(c.raw)
            words = c.sealed(payload, close=True)
            sender = threading.Thread(target=c.raw.sendall, args=(words,))
            sender.start()  # one send: data and close_notify together
            got, notified, err = c.read_to_eof()
            self.assertIsNone(err)  # a reset or an alert fails the test
            sender.join()
            # Our socket is still open (no FIN from us): the server did
            # not wait for one.
            ev = self.srv.session_closed(lport)
        finally:
            c.raw.close()
        self.assertTrue(got == payload, "echo differs: %d of %d bytes"
                        % (len(got), len(payload)))
        self.assertTrue(notified, "no close_notify before the FIN")
        self.assertEqual(ev.get("reason"), "client_close", ev)
        self.assertEqual(int(ev["bytes_in"]), len(payload), ev)
        self.assertEqual(int(ev["bytes_out"]), len(payload), ev)
        if check_prompt:
            self.assertLess(float(ev["duration_ms"]), LINGER_MS, ev)

    def test_close_notify_alone(self):
        self.last_words(b"")

    def test_data_and_close_notify_in_one_send(self):
        self.last_words(b"last words before close_notify" * 10)

    def test_large_data_then_close_notify(self):
        # More than one read batch and possibly a write queue: the server
        # may take either close path; the client sees the same thing.
        self.last_words(bytes(range(256)) * 800, check_prompt=False)

    def test_many_in_a_row(self):
        for i in range(20):
            self.last_words(b"%d" % i)


if __name__ == "__main__":
    unittest.main()

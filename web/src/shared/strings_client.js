// The client app's own strings (the shared ones are in i18n.js). Both
// languages must have the same keys: test/i18n.test.mjs checks.
export const en = {
  client_title: 'Chat',
  chatting_with: 'Chatting with {alias}',
  link_missing: 'This session link is no longer in the address bar; open the link from your message again',
  ended: 'This session has ended.',
  ended_or_invalid: 'This session has ended or the link is not valid',
  end_confirm_question: 'End this session now? You can still write a last message for a short while.',
  end_confirm: 'Yes, end it',
};

export const id = {
  client_title: 'Obrolan',
  chatting_with: 'Mengobrol dengan {alias}',
  link_missing: 'Tautan sesi ini sudah tidak ada di bilah alamat; buka lagi tautan dari pesan Anda',
  ended: 'Sesi ini sudah berakhir.',
  ended_or_invalid: 'Sesi ini sudah berakhir atau tautannya tidak berlaku',
  end_confirm_question: 'Akhiri sesi ini sekarang? Anda masih bisa menulis pesan terakhir sebentar.',
  end_confirm: 'Ya, akhiri',
};
